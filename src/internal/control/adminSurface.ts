/**
 * What the master's admin API does: `status` (its own nodes as its supervisor sees them, the
 * others as their agents report them, each with what the node says of itself when linked) and
 * `reload` (validate the config file again, make it the snapshot, reload every linked node).
 *
 * @internal
 */
import { Clock, Effect, Exit, Option, Ref } from "effect"
import type * as HotaruConfig from "../../HotaruConfig.js"
import type { Supervisor } from "../../NodeSupervisor.js"
import type { Root } from "../../Root.js"
import type { Agents } from "../cluster/agents.js"
import * as PrivateFile from "../config/privateFile.js"
import { toJsonText } from "../config/schema.js"
import * as MasterMetrics from "../observe/masterMetrics.js"
import { ReloadRefused } from "./adminErrors.js"
import { AdminService, type NodeStatus } from "./adminRpc.js"
import { topologyChanges } from "./configTopology.js"
import type { MasterReport, NodeReport, StatusReport } from "./statusReport.js"

/** What the admin surface reads and changes. */
export interface SurfaceInput {
  readonly loaded: HotaruConfig.Loaded
  readonly root: Root["Type"]
  readonly supervisor: Supervisor
  readonly agents: Agents
  /** Every server of the config, in config order. */
  readonly names: ReadonlyArray<string>
  /** The host `/status` shows for the master's own nodes. */
  readonly localHost: string
  /** `/status`'s master entry but its uptime. */
  readonly master: Omit<MasterReport, "uptimeMs">
  /** When the master started (epoch millis, Effect `Clock`). */
  readonly startedAt: number
  /** The snapshot every (re)started node runs with. */
  readonly snapshot: Ref.Ref<HotaruConfig.Loaded>
  /** Where it is written for node processes (`process` mode), or none (`in-process`). */
  readonly snapshotPath: Option.Option<string>
  /** The config file validated again (`InvalidConfig` when broken); none for an in-memory config. */
  readonly reread: Option.Option<Effect.Effect<HotaruConfig.Loaded, ReloadRefused>>
}

/** The admin surface. */
export interface Surface {
  readonly status: Effect.Effect<StatusReport>
  readonly reload: Effect.Effect<
    ReadonlyArray<{ readonly node: string; readonly result: string }>,
    ReloadRefused
  >
  /** The master's and every linked node's metrics, in the Prometheus text format. */
  readonly metrics: Effect.Effect<string>
}

/** What `/status` says of a node that is not linked: nothing it would report of itself. */
const unlinked: Omit<NodeStatus, "name" | "pid" | "uptimeMs"> = {
  capabilities: [],
  parents: [],
  children: [],
  connections: 0,
  messages: 0,
  reloads: 0,
  deadLettered: 0,
  jobs: []
}

/** The status and reload of the master described by `input`. */
export const make = (input: SurfaceInput): Effect.Effect<Surface> =>
  Effect.gen(function* () {
    const { loaded, root, supervisor, agents, names, localHost, snapshot } = input
    const config = loaded.config

    const nodeStatus = (name: string) =>
      Effect.gen(function* () {
        const children = yield* root.children
        if (!children.includes(name)) return Option.none<NodeStatus>()
        const client = yield* root.child(name, AdminService)
        // a node still building its app is linked before it serves its admin group: that call
        // dies with "does not serve" — no status yet, as for a node that does not answer
        const exit = yield* Effect.exit(Effect.timeout(client.Status(), "2 seconds"))
        return Exit.isSuccess(exit) ? Option.some(exit.value) : Option.none<NodeStatus>()
      })

    const status = Effect.gen(function* () {
      const children = yield* supervisor.status
      const elsewhere = yield* agents.entries
      const now = yield* Clock.currentTimeMillis
      const local = children.map((c) => ({
        name: c.name,
        state: c.state,
        host: localHost,
        pid: c.pid ?? null,
        restarts: c.restarts,
        uptimeMs: Option.match(c.startedAt, { onNone: () => null, onSome: (t) => now - t }),
        lastExit: c.lastExit ?? null
      }))
      const all = names.flatMap((name) => {
        const entry = local.find((c) => c.name === name) ?? elsewhere.get(name)
        return entry === undefined ? [] : [{ ...entry, name }]
      })
      const nodes = yield* Effect.forEach(
        all,
        (c) =>
          Effect.map(
            nodeStatus(c.name),
            (s): NodeReport => ({
              ...c,
              linked: Option.isSome(s),
              ...Option.match(s, {
                onNone: () => unlinked,
                onSome: ({ name: _, pid: __, uptimeMs: ___, ...own }) => own
              })
            })
          ),
        { concurrency: "unbounded" }
      )
      const { pid, mode, rootport, webport } = input.master
      return { master: { pid, mode, uptimeMs: now - input.startedAt, rootport, webport }, nodes }
    })

    // a reload re-reads and validates the file before anything uses it
    const revalidate = Effect.gen(function* () {
      if (Option.isNone(input.reread)) return // an in-memory config: nothing to re-read
      const fresh = yield* input.reread.value
      const changes = topologyChanges(config, fresh.config)
      if (changes.length > 0) {
        return yield* ReloadRefused.refuse("TopologyChanged", loaded.file, [
          ...changes,
          "ports, parents and bind addresses change only with a restart of the master"
        ])
      }
      if (Option.isSome(input.snapshotPath)) {
        yield* PrivateFile.writePrivate(input.snapshotPath.value, toJsonText(fresh.config)).pipe(
          Effect.mapError((e) => ReloadRefused.refuse("InvalidConfig", loaded.file, [e.message]))
        )
      }
      yield* Ref.set(snapshot, fresh)
    })

    // one reload at a time (each may rewrite the snapshot)
    const reloadLock = yield* Effect.makeSemaphore(1)
    const reload = Effect.gen(function* () {
      yield* revalidate
      const linked = yield* root.children
      return yield* Effect.forEach(
        linked.filter((n) => names.includes(n)),
        (node) =>
          Effect.flatMap(root.child(node, AdminService), (client) => client.Reload()).pipe(
            Effect.timeout("30 seconds"),
            Effect.match({
              onFailure: (e) => ({
                node,
                result: `failed: ${e._tag === "ReloadFailed" ? e.detail : e.message}`
              }),
              onSuccess: (r) => ({ node, result: `reloaded ${r.module}` })
            })
          ),
        { concurrency: "unbounded" }
      )
    }).pipe(reloadLock.withPermits(1))

    const metrics = MasterMetrics.exposition(names, (name) =>
      Effect.flatMap(root.child(name, AdminService), (client) => client.Metrics())
    )

    return { status, reload, metrics }
  })
