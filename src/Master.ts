/**
 * The master: a supervisor fiber tree over the nodes of a config.
 *
 * - Listens on the master `rootport`: every node links to it (as parent `master`) over the same
 *   typed RPC as root/remote, and offers it `Admin.AdminService`.
 * - Owns one supervised child per server: in `process` mode a real OS process running
 *   `hotaru node NAME CONFIG` (or the user's own entry file), output prefixed with the node's
 *   name; in `in-process` mode a fiber running the same node Layer. Same config, same app code.
 * - Restarts a node that exits, or whose master link stays down past `heartbeatGrace` (a frozen
 *   process), with exponential backoff; more than `maxRestarts` within `within` marks it failed.
 *   A failed node is then retried at a slow capped rate (`supervisor.onFailed: "retry"`, state
 *   `failed-retrying`), or the master stops everything and exits non-zero (`"exit"`).
 * - Nodes run the config the master validated: a snapshot written beside the config file (mode
 *   0600), never a re-read file; `reload` validates the file again and refuses a broken one.
 * - Stops cleanly: client-facing nodes first, then children before parents, each with a grace
 *   period (SIGTERM, then SIGKILL). Nodes exit by themselves when the master dies.
 * - With `only` (the CLI's `--only a,b`) it runs those nodes and leaves the others to host agents
 *   on other hosts (`hotaru join`, see `Agent`): they link to its rootport as `@agent:<host>`,
 *   `/status` shows their nodes with the agent's host (or `waiting-for-agent`, `agent-lost`),
 *   `restart` of such a node is forwarded to its agent, `stop` stops the agents' nodes too.
 * - Serves the admin API (`AdminApi`, an `HttpApi`) on `webport` (bound to 127.0.0.1 unless
 *   `bind` says otherwise), every endpoint behind `Authorization: Bearer <token>`: `GET /status`;
 *   `POST /stop`, `POST /reload` (also `GET /stop`, `GET /reloadmodule`, as firefly's admin
 *   URLs); `POST /restart/NAME`.
 *
 * @since 0.1.0
 */

import { randomBytes } from "node:crypto"
import { unlink } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { FileSystem, Path } from "@effect/platform"
import {
  Clock,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Exit,
  Layer,
  Option,
  Ref,
  type Scope,
  Stream
} from "effect"
import type * as Admin from "./Admin.js"
import { AdminService } from "./Admin.js"
import * as AdminApi from "./AdminApi.js"
import * as HotaruConfig from "./HotaruConfig.js"
import { isAgentName } from "./internal/cluster/agentRpc.js"
import * as Agents from "./internal/cluster/agents.js"
import { linkAuthOf } from "./internal/config/linkAuth.js"
import * as PrivateFile from "./internal/config/privateFile.js"
import { policyOf } from "./internal/control/nodePolicy.js"
import { type ProcessError, runNode } from "./internal/control/process.js"
import * as Node from "./Node.js"
import * as NodeSupervisor from "./NodeSupervisor.js"
import * as Root from "./Root.js"
import { Transport } from "./Transport.js"
import * as Web from "./Web.js"

/**
 * How nodes run.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = AdminApi.Mode

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly config: HotaruConfig.Loaded
  /** Default `process`. */
  readonly mode?: Mode
  /**
   * The program a node process runs, as `[command, ...args]`; `NAME` and `CONFIG` are appended.
   * Default: this package's `hotaru node` (firefly's `appmain.py` is the user's own file here).
   */
  readonly entry?: ReadonlyArray<string>
  /**
   * Bearer token of every admin endpoint (default: config `adminToken`, else the one in the token
   * file beside the config, else a generated one written there with mode 0600).
   */
  readonly token?: string
  /**
   * The CLI's `--bind`: address of the internal listeners (the master's rootport and admin web,
   * and every node's rootport and webport; not the public `netport`), over the config's `bind`.
   * Passed on to node processes as env `HOTARU_BIND`. Default: the config's `bind`, else 127.0.0.1.
   */
  readonly bind?: string
  /** How long a node's master link may stay down before the node is restarted (default 5 s). */
  readonly heartbeatGrace?: Duration.DurationInput
  /** How long a node may take to register with the master after it starts (default 30 s). */
  readonly startTimeout?: Duration.DurationInput
  /**
   * Apps by node name, given in code (`in-process` mode only): those nodes run them instead of
   * importing their config `app` module, which then need not exist (load the config with
   * `HotaruConfig.load(file, { apps: ["gate", …] })`). A name that is no server of the config is a
   * start error (`UnknownApp`). In `process` mode each node is its own program, so apps cannot be
   * handed over from here (`AppsInProcessMode`): give `entry` your own file that calls
   * `Main.runNode({ name, config, apps })`.
   */
  readonly apps?: Readonly<Record<string, Node.App>>
  /**
   * The CLI's `--only`: the nodes this master runs itself (default: every server). The others
   * are left to host agents on other hosts (`hotaru join CONFIG --only …`, see `Agent`), which
   * link to this master's rootport and report them; `/status` shows every node with its host.
   */
  readonly only?: ReadonlyArray<string>
}

/**
 * One node in `/status` (a Schema, shared with the CLI's client; see `AdminApi`).
 *
 * @since 0.1.0
 * @category models
 */
export const NodeReport = AdminApi.NodeReport
export type NodeReport = AdminApi.NodeReport

/**
 * The `/status` document (a Schema, shared with the CLI's client; see `AdminApi`).
 *
 * @since 0.1.0
 * @category models
 */
export const StatusReport = AdminApi.StatusReport
export type StatusReport = AdminApi.StatusReport

/**
 * The master could not start (`NoMaster`, `Listen`, `Token`, `Snapshot`; `UnknownApp`: an app
 * given in code for no server of the config; `AppsInProcessMode`: apps given in code with the
 * `process` mode, see `Options.apps`; `UnknownNode`: `only` names no server of the config), or stopped because a
 * node failed under `supervisor.onFailed: "exit"` (`NodeFailed`).
 *
 * @since 0.1.0
 * @category errors
 */
export class MasterError extends Data.TaggedError("MasterError")<{
  readonly reason:
    | "NoMaster"
    | "Listen"
    | "Token"
    | "Snapshot"
    | "NodeFailed"
    | "UnknownApp"
    | "AppsInProcessMode"
    | "UnknownNode"
  readonly detail: string
}> {
  override get message(): string {
    return `master: ${this.detail}`
  }
}

/**
 * A `reload` that was refused before any node was touched: the config file is broken or changes
 * the topology (the admin API's 409; see `AdminApi.ReloadRefused`).
 *
 * @since 0.1.0
 * @category errors
 */
export const ReloadRefused = AdminApi.ReloadRefused
export type ReloadRefused = AdminApi.ReloadRefused

/**
 * Why one incarnation of a node ended (the supervisor restarts it): it did not register with the
 * master in time (`StartTimeout`), its master link stayed down past the heartbeat grace
 * (`HeartbeatLost`), its in-process layer failed to build (`BuildFailed`) or an admin `Stop`
 * asked it to stop (`StopRequested`). A node process that exits is a `ProcessError`.
 *
 * @since 0.1.0
 * @category errors
 */
export class NodeRunError extends Data.TaggedError("NodeRunError")<{
  readonly reason: "StartTimeout" | "HeartbeatLost" | "BuildFailed" | "StopRequested"
  readonly node: string
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * A running master.
 *
 * @since 0.1.0
 * @category errors
 */
export class Master extends Context.Tag("hotaru/Master")<
  Master,
  {
    readonly status: Effect.Effect<StatusReport>
    /**
     * Validate the config file again (refused, nodes untouched, when it is broken or changes the
     * topology), make it the snapshot nodes start with from now on, and reload every linked node;
     * per node the reloaded module or the error.
     */
    readonly reload: Effect.Effect<
      ReadonlyArray<{ readonly node: string; readonly result: string }>,
      ReloadRefused
    >
    /**
     * Restart one node now, whatever its state, with its restart count and intensity reset (a
     * node on another host: by its agent, `RestartFailed` when no agent of it is linked).
     */
    readonly restart: (
      name: string
    ) => Effect.Effect<void, NodeSupervisor.SupervisorError | AdminApi.RestartFailed>
    /** Stop every node in order, then complete `awaitStop`. */
    readonly stop: Effect.Effect<void>
    /**
     * Completes when a stop was requested and done (the CLI exits then); fails with `NodeFailed`
     * when a node failed under `supervisor.onFailed: "exit"` (the CLI exits non-zero).
     */
    readonly awaitStop: Effect.Effect<void, MasterError>
    /** The admin token. */
    readonly token: string
    /** The bound admin web address, if the config has a `webport`. */
    readonly webAddress: Option.Option<{ readonly host: string; readonly port: number }>
  }
>() {}

/**
 * The order of a clean stop: client-facing nodes (netport, webport) first, then children before
 * their parents.
 *
 * @since 0.1.0
 * @category utils
 */
export const stopOrder = (config: HotaruConfig.HotaruConfig): ReadonlyArray<string> => {
  const names = Object.keys(config.servers)
  const depth = new Map<string, number>()
  const depthOf = (name: string, seen: ReadonlySet<string>): number => {
    const known = depth.get(name)
    if (known !== undefined) return known
    const parents = (config.servers[name]?.remoteport ?? [])
      .map((l) => l.rootname)
      .filter((p) => !seen.has(p))
    const d =
      parents.length === 0 ? 0 : 1 + Math.max(...parents.map((p) => depthOf(p, new Set([...seen, name]))))
    depth.set(name, d)
    return d
  }
  const facing = (name: string) =>
    config.servers[name]?.netport !== undefined || config.servers[name]?.webport !== undefined ? 1 : 0
  return [...names].sort((a, b) => facing(b) - facing(a) || depthOf(b, new Set()) - depthOf(a, new Set()))
}

/**
 * What differs between two configs in the parts the running master and nodes depend on (the
 * master block, the server names, and each server's ports, parents and bind addresses); one line
 * per difference.
 *
 * @since 0.1.0
 * @category utils
 */
export const topologyChanges = (
  before: HotaruConfig.HotaruConfig,
  after: HotaruConfig.HotaruConfig
): ReadonlyArray<string> => {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
  const changes: Array<string> = []
  if (!same(before.master, after.master)) changes.push("master: changed")
  const names = new Set([...Object.keys(before.servers), ...Object.keys(after.servers)])
  for (const name of names) {
    const a = before.servers[name]
    const b = after.servers[name]
    if (a === undefined) changes.push(`servers.${name}: added`)
    else if (b === undefined) changes.push(`servers.${name}: removed`)
    else {
      for (const key of ["netport", "webport", "rootport", "roothost", "remoteport", "bind"] as const) {
        if (!same(a[key], b[key])) changes.push(`servers.${name}.${key}: changed`)
      }
    }
  }
  return changes
}

/**
 * The address nodes dial to reach the master's rootport: its bound address (config `bind`, or
 * the `--bind` override), or 127.0.0.1 when it listens on every interface.
 *
 * @since 0.1.0
 * @category utils
 */
export const dialAddress = (master: HotaruConfig.MasterConfig, bind?: string): string => {
  const bound = HotaruConfig.bindAddress(master.bind, "root", bind)
  return bound === "0.0.0.0" || bound === "::" ? "127.0.0.1" : bound
}

/**
 * Where a master keeps the config snapshot its nodes start with (beside the config, so relative `app` paths resolve).
 *
 * @since 0.1.0
 * @category utils
 */
export const snapshotFile = (loaded: HotaruConfig.Loaded, path: Path.Path): string =>
  path.join(loaded.dir, `.hotaru-config-${process.pid}.json`)

/**
 * The default node program: this package's CLI, `hotaru node NAME CONFIG`.
 *
 * @since 0.1.0
 * @category utils
 */
export const defaultEntry = (): ReadonlyArray<string> => {
  const bin = fileURLToPath(new URL("../bin/hotaru.js", import.meta.url))
  return [process.execPath, bin, "node"]
}

/**
 * Start the master and every node; everything stops when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<
  Context.Tag.Service<Master>,
  MasterError,
  Scope.Scope | Transport | FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function* () {
    const loaded = options.config
    const config = loaded.config
    const master = config.master
    if (master === undefined) {
      return yield* new MasterError({ reason: "NoMaster", detail: `${loaded.file} has no "master" block` })
    }
    const mode = options.mode ?? "process"
    const names = Object.keys(config.servers)
    const apps: Readonly<Record<string, Node.App>> = options.apps ?? {}
    const strangers = Object.keys(apps).filter((name) => !names.includes(name))
    if (strangers.length > 0) {
      return yield* new MasterError({
        reason: "UnknownApp",
        detail: `apps given for ${strangers.map((n) => `"${n}"`).join(", ")}, which ${loaded.file} has no server of (servers: ${names.join(", ")})`
      })
    }
    if (mode === "process" && Object.keys(apps).length > 0) {
      return yield* new MasterError({
        reason: "AppsInProcessMode",
        detail:
          "apps given in code run in the in-process mode only; in process mode each node is its own " +
          "program: give `entry` a file that calls Main.runNode({ name, config, apps })"
      })
    }
    const only = options.only === undefined ? names : [...new Set(options.only)]
    const unknown = only.filter((name) => !names.includes(name))
    if (unknown.length > 0) {
      return yield* new MasterError({
        reason: "UnknownNode",
        detail: `--only names ${unknown.map((n) => `"${n}"`).join(", ")}, which ${loaded.file} has no server of (servers: ${names.join(", ")})`
      })
    }
    const remote = names.filter((name) => !only.includes(name))
    const appsInCode = [...(loaded.appsInCode ?? []), ...Object.keys(apps)]
    const heartbeatGrace = options.heartbeatGrace ?? Duration.seconds(5)
    const startTimeout = options.startTimeout ?? Duration.seconds(30)
    const policy = policyOf(config)
    const grace = policy.grace
    const startedAt = yield* Clock.currentTimeMillis
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const transport = yield* Transport

    // the token: given, configured, or the one in the token file beside the config (0600)
    const given = options.token ?? config.adminToken
    let token: string
    if (given !== undefined) token = given
    else {
      const file = tokenFile(loaded, path)
      const ensured = yield* PrivateFile.ensure(file, () => randomBytes(18).toString("base64url")).pipe(
        Effect.mapError((e) => new MasterError({ reason: "Token", detail: e.message }))
      )
      token = ensured.token
      if (ensured.created) {
        yield* Effect.addFinalizer(() => Effect.promise(() => unlink(file).catch(() => undefined)))
      }
    }

    // the snapshot of the validated config that every (re)started node runs with
    const snapshot = yield* Ref.make<HotaruConfig.Loaded>(loaded)
    const snapshotPath = snapshotFile(loaded, path)
    if (mode === "process") {
      yield* PrivateFile.writePrivate(snapshotPath, JSON.stringify(config, null, 2)).pipe(
        Effect.mapError((e) => new MasterError({ reason: "Snapshot", detail: e.message }))
      )
      yield* Effect.addFinalizer(() =>
        Effect.promise(() =>
          Promise.all(
            [unlink(snapshotPath), unlink(`${snapshotPath}.tmp`)].map((p) => p.catch(() => undefined))
          )
        )
      )
    }

    const rootContext = yield* Layer.build(
      Root.layer({
        name: "master",
        host: HotaruConfig.bindAddress(master.bind, "root", options.bind),
        port: master.rootport,
        // host agents link too when some nodes run elsewhere
        accept: remote.length === 0 ? names : (name) => names.includes(name) || isAgentName(name),
        ...linkAuthOf(config)
      })
    ).pipe(
      Effect.mapError(
        (e) => new MasterError({ reason: "Listen", detail: `rootport ${master.rootport}: ${e.message}` })
      )
    )
    const root = Context.get(rootContext, Root.Root)
    const supervisor = yield* NodeSupervisor.make
    const agents = yield* Agents.make(root, remote)
    const stopped = yield* Deferred.make<void, MasterError>()
    const failure = yield* Ref.make(Option.none<MasterError>())
    const stopping = yield* Deferred.make<void>()

    /** Fails when the node's master link, once up, stays down past the grace. */
    const watchLink = (name: string) =>
      Effect.gen(function* () {
        yield* root.awaitChild(name).pipe(
          Effect.timeoutFail({
            duration: startTimeout,
            onTimeout: () =>
              new NodeRunError({
                reason: "StartTimeout",
                node: name,
                message: `did not register with the master within ${Duration.format(startTimeout)}`
              })
          })
        )
        yield* NodeSupervisor.ready
        return yield* root.changes.pipe(
          Stream.filter((e) => e.name === name && e._tag === "Left"),
          Stream.mapEffect(() =>
            root.awaitChild(name).pipe(
              Effect.timeoutFail({
                duration: heartbeatGrace,
                onTimeout: () =>
                  new NodeRunError({
                    reason: "HeartbeatLost",
                    node: name,
                    message: "stopped answering heartbeats"
                  })
              })
            )
          ),
          Stream.runDrain,
          Effect.zipRight(Effect.never)
        )
      })

    const entry = options.entry ?? defaultEntry()
    const incarnation = (name: string): Effect.Effect<void, NodeRunError | ProcessError, Scope.Scope> =>
      mode === "process"
        ? Effect.raceFirst(
            runNode({
              name,
              command: entry[0]!,
              args: [...entry.slice(1), name, snapshotPath],
              cwd: loaded.dir,
              env: {
                HOTARU_SUPERVISED: "1",
                ...(options.bind === undefined ? {} : { HOTARU_BIND: options.bind })
              },
              grace
            }),
            watchLink(name)
          )
        : Effect.gen(function* () {
            const current = yield* Ref.get(snapshot)
            const context = yield* Layer.build(
              Node.layer(current, name, {
                ...(options.bind === undefined ? {} : { bind: options.bind }),
                ...(apps[name] === undefined ? {} : { app: apps[name] }),
                master: { host: dialAddress(master, options.bind), port: master.rootport }
              })
            ).pipe(
              Effect.provideService(Transport, transport),
              Effect.provideService(FileSystem.FileSystem, fs),
              Effect.provideService(Path.Path, path),
              Effect.mapError(
                (cause) =>
                  new NodeRunError({ reason: "BuildFailed", node: name, message: cause.message, cause })
              )
            )
            yield* NodeSupervisor.reportPid(process.pid)
            const lifecycle = Context.get(context, Node.Lifecycle)
            const asked = Effect.zipRight(
              lifecycle.awaitShutdown,
              Effect.fail(
                new NodeRunError({
                  reason: "StopRequested",
                  node: name,
                  message: "stopped by an admin Stop call"
                })
              )
            )
            return yield* Effect.raceFirst(asked, watchLink(name))
          })

    const { onFailed, retryFailed } = policy
    for (const name of only) {
      yield* supervisor
        .start({
          name,
          run: incarnation(name),
          awaitReady: true,
          intensity: policy.intensity,
          ...(retryFailed === undefined ? {} : { retryFailed })
        })
        .pipe(Effect.orDie)
    }
    const localHost = master.roothost ?? HotaruConfig.bindAddress(master.bind, "root", options.bind)

    const nodeStatus = (name: string) =>
      Effect.gen(function* () {
        const children = yield* root.children
        if (!children.includes(name)) return Option.none<Admin.NodeStatus>()
        const client = yield* root.child(name, AdminService)
        // a node still building its app is linked before it serves its admin group: that call
        // dies with "does not serve" — no status yet, as for a node that does not answer
        const exit = yield* Effect.exit(Effect.timeout(client.Status(), "2 seconds"))
        return Exit.isSuccess(exit) ? Option.some(exit.value) : Option.none<Admin.NodeStatus>()
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
              capabilities: Option.match(s, { onNone: () => [], onSome: (x) => x.capabilities }),
              parents: Option.match(s, { onNone: () => [], onSome: (x) => x.parents }),
              children: Option.match(s, { onNone: () => [], onSome: (x) => x.children }),
              connections: Option.match(s, { onNone: () => 0, onSome: (x) => x.connections }),
              reloads: Option.match(s, { onNone: () => 0, onSome: (x) => x.reloads }),
              deadLettered: Option.match(s, { onNone: () => 0, onSome: (x) => x.deadLettered })
            })
          ),
        { concurrency: "unbounded" }
      )
      return {
        master: {
          pid: process.pid,
          mode,
          uptimeMs: now - startedAt,
          rootport: root.address.port,
          webport: master.webport ?? null
        },
        nodes
      }
    })

    // a reload re-reads and validates the file before anything uses it
    const revalidate = Effect.gen(function* () {
      if (!path.isAbsolute(loaded.file)) return // an in-memory config: nothing to re-read
      const fresh = yield* HotaruConfig.load(loaded.file, { apps: appsInCode }).pipe(
        Effect.provideService(FileSystem.FileSystem, fs),
        Effect.provideService(Path.Path, path),
        Effect.mapError((e) => ReloadRefused.refuse("InvalidConfig", loaded.file, e.issues))
      )
      const changes = topologyChanges(config, fresh.config)
      if (changes.length > 0) {
        return yield* ReloadRefused.refuse("TopologyChanged", loaded.file, [
          ...changes,
          "ports, parents and bind addresses change only with a restart of the master"
        ])
      }
      if (mode === "process") {
        yield* PrivateFile.writePrivate(snapshotPath, JSON.stringify(fresh.config, null, 2)).pipe(
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

    const stop = Effect.gen(function* () {
      if (!(yield* Deferred.succeed(stopping, undefined)))
        return yield* Effect.ignore(Deferred.await(stopped))
      const order = stopOrder(config).filter((name) => only.includes(name))
      yield* Effect.log(
        `stopping ${order.join(", ") || "no node of its own"}${remote.length > 0 ? "; the agents stop theirs" : ""}`
      )
      const each = Duration.sum(grace, Duration.seconds(1))
      // the agents stop their own nodes (in the same order) while the master stops its own
      yield* Effect.all(
        [
          supervisor.stopAll(order, each),
          agents.stopAll(Duration.times(each, Math.max(1, remote.length) + 1))
        ],
        { concurrency: "unbounded", discard: true }
      )
      yield* Effect.log("every node stopped")
      const failed = yield* Ref.get(failure)
      yield* Option.isSome(failed)
        ? Deferred.fail(stopped, failed.value)
        : Deferred.succeed(stopped, undefined)
    }).pipe(Effect.uninterruptible)

    yield* Effect.addFinalizer(() => stop)

    // supervisor.onFailed "exit": the first failed node stops the tree and fails `awaitStop`
    if (onFailed === "exit") {
      yield* supervisor.changes.pipe(
        Stream.filter((c) => c.state === "failed"),
        Stream.take(1),
        Stream.runForEach((c) =>
          Effect.gen(function* () {
            const detail = `node ${c.name} failed (${c.lastExit ?? "?"}); supervisor.onFailed is "exit": stopping everything`
            yield* Effect.logError(detail)
            yield* Ref.set(failure, Option.some(new MasterError({ reason: "NodeFailed", detail })))
            yield* stop
          })
        ),
        Effect.forkScoped
      )
    }

    const restart = (name: string) =>
      agents.isRemote(name)
        ? agents.restart(name)
        : Effect.zipLeft(
            supervisor.reset(name, Duration.sum(grace, Duration.seconds(1))),
            Effect.log(`restarted ${name} by request`)
          )

    // admin web: the AdminApi, every endpoint behind the token
    let webAddress = Option.none<{ readonly host: string; readonly port: number }>()
    if (master.webport !== undefined) {
      const webContext = yield* Layer.build(
        AdminApi.layer(
          { status, stop, reload, restart },
          {
            token,
            host: HotaruConfig.bindAddress(master.bind, "web", options.bind),
            port: master.webport,
            maxBodySize: 64 * 1024,
            ...Web.limitsOf(master.http)
          }
        )
      ).pipe(
        Effect.mapError(
          (e) => new MasterError({ reason: "Listen", detail: `webport ${master.webport}: ${e.message}` })
        )
      )
      const address = Context.get(webContext, Web.WebAddress)
      webAddress = Option.some({ host: address.host, port: address.port })
    }

    yield* Effect.log(
      `master up (${mode} mode): rootport ${root.address.port}${Option.match(webAddress, {
        onNone: () => "",
        onSome: (a) => `, admin web http://${a.host}:${a.port}`
      })}`
    )
    return {
      status,
      reload,
      restart,
      stop,
      awaitStop: Deferred.await(stopped),
      token,
      webAddress
    }
  }).pipe(Effect.annotateLogs({ node: "master" }))

/**
 * Where a master without a configured token keeps its generated one.
 *
 * @since 0.1.0
 * @category utils
 */
export const tokenFile = (loaded: HotaruConfig.Loaded, path: Path.Path): string =>
  path.join(loaded.dir, ".hotaru-admin-token")

/**
 * The master as a Layer (library use: `Layer.launch(Master.layer(...))`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<Master, MasterError, Transport | FileSystem.FileSystem | Path.Path> =>
  Layer.scoped(Master, make(options))
