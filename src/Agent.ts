/**
 * A host agent (`hotaru join CONFIG --only c,d --bind ADDR`): runs some nodes of a config on
 * this host, for a master that runs on another one (`hotaru start CONFIG --only a,b`).
 *
 * - Supervises its nodes as the master does (one OS process each, `hotaru node NAME` or the
 *   user's entry file; restart with backoff and intensity from the config's `supervisor` block),
 *   with `--bind` as the address of their internal listeners (rootport, webport).
 * - Its nodes link to the master themselves, at `master.roothost:master.rootport`, and to their
 *   parents at the parents' configured `roothost`; they exit when the agent dies (their stdin
 *   pipe from it closes), so a dead agent takes only its own nodes down.
 * - The agent links to the master's rootport too, as `@agent:<host>` (HMAC-authenticated with
 *   the config's `secret`, like every link), and answers the master's questions over it: the
 *   state of its nodes (what `hotaru status` shows with the host), `restart NAME`, and `stop`
 *   (the agent stops its nodes in order and exits 0). The link is retried forever: an agent may
 *   start before its master, and outlives a master restart.
 * - Its nodes run the config the agent validated: a snapshot beside the config file (mode 0600).
 *
 * @since 0.1.0
 */

import { unlink } from "node:fs/promises"
import { hostname } from "node:os"
import { type FileSystem, Path } from "@effect/platform"
import { Clock, Context, Data, Deferred, Duration, Effect, Layer, Option, type Scope, Stream } from "effect"
import * as HotaruConfig from "./HotaruConfig.js"
import { AgentNoSuchNode, AgentService, type AgentStatus, agentName } from "./internal/cluster/agentRpc.js"
import { linkAuthOf } from "./internal/config/linkAuth.js"
import * as PrivateFile from "./internal/config/privateFile.js"
import { toJsonText } from "./internal/config/schema.js"
import { policyOf } from "./internal/control/nodePolicy.js"
import { runNode } from "./internal/control/process.js"
import * as Master from "./Master.js"
import * as NodeSupervisor from "./NodeSupervisor.js"
import * as Remote from "./Remote.js"
import { Transport } from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly config: HotaruConfig.Loaded
  /** The nodes this agent runs (names of servers of the config). */
  readonly only: ReadonlyArray<string>
  /**
   * The CLI's `--bind`: the address of this host the nodes' internal listeners bind (rootport,
   * webport; not the public netport), over the config's `bind`; passed on as env `HOTARU_BIND`.
   */
  readonly bind?: string
  /**
   * The host's name in `hotaru status` and in the agent's link name (`@agent:<host>`). Default:
   * `bind` when it is one address, else the machine's host name.
   */
  readonly host?: string
  /** The program a node process runs, as for `Master.Options.entry`. */
  readonly entry?: ReadonlyArray<string>
}

/**
 * The agent could not start: the config has no `master` block or no `master.roothost` to link
 * to (`NoMaster`), `only` names no server of the config or none at all (`UnknownNode`), or the
 * config snapshot could not be written (`Snapshot`).
 *
 * @since 0.1.0
 * @category errors
 */
export class AgentError extends Data.TaggedError("AgentError")<{
  readonly reason: "NoMaster" | "UnknownNode" | "Snapshot"
  readonly detail: string
}> {
  override get message(): string {
    return `agent: ${this.detail}`
  }
}

/**
 * A running host agent.
 *
 * @since 0.1.0
 * @category tags
 */
export class Agent extends Context.Tag("hotaru/Agent")<
  Agent,
  {
    /** The host name it reports. */
    readonly host: string
    /** Its nodes as its supervisor sees them. */
    readonly status: Effect.Effect<AgentStatus>
    /** Stop every node in order, then complete `awaitStop`. */
    readonly stop: Effect.Effect<void>
    /** Completes when a stop was requested (by the master, or by closing the scope) and done. */
    readonly awaitStop: Effect.Effect<void>
  }
>() {}

/**
 * The host name an agent reports: `host`, else `bind` when it is one address, else the
 * machine's host name.
 *
 * @since 0.1.0
 * @category utils
 */
export const hostOf = (options: { readonly bind?: string; readonly host?: string }): string =>
  options.host ??
  (options.bind !== undefined && options.bind !== "0.0.0.0" && options.bind !== "::"
    ? options.bind
    : hostname())

/**
 * Start the agent and its nodes; everything stops when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<
  Context.Tag.Service<Agent>,
  AgentError,
  Scope.Scope | Transport | FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function* () {
    const loaded = options.config
    const config = loaded.config
    const master = config.master
    if (master?.roothost === undefined) {
      return yield* new AgentError({
        reason: "NoMaster",
        detail: `${loaded.file} has no "master.roothost": the agent and its nodes link to the master there`
      })
    }
    const names = Object.keys(config.servers)
    const only = [...new Set(options.only)]
    const strangers = only.filter((name) => !names.includes(name))
    if (only.length === 0 || strangers.length > 0) {
      return yield* new AgentError({
        reason: "UnknownNode",
        detail:
          only.length === 0
            ? "--only names no node"
            : `--only names ${strangers.map((n) => `"${n}"`).join(", ")}, which ${loaded.file} has no server of (servers: ${names.join(", ")})`
      })
    }
    const host = hostOf(options)
    const policy = policyOf(config)
    const path = yield* Path.Path

    const snapshotPath = Master.snapshotFile(loaded, path)
    yield* PrivateFile.writePrivate(snapshotPath, toJsonText(config)).pipe(
      Effect.mapError((e) => new AgentError({ reason: "Snapshot", detail: e.message }))
    )
    yield* Effect.addFinalizer(() =>
      Effect.promise(() =>
        Promise.all(
          [unlink(snapshotPath), unlink(`${snapshotPath}.tmp`)].map((p) => p.catch(() => undefined))
        )
      )
    )

    const supervisor = yield* NodeSupervisor.make
    const entry = options.entry ?? Master.defaultEntry()
    for (const name of only) {
      yield* supervisor
        .start({
          name,
          run: runNode({
            name,
            command: entry[0]!,
            args: [...entry.slice(1), name, snapshotPath],
            cwd: loaded.dir,
            env: {
              HOTARU_SUPERVISED: "1",
              ...(options.bind === undefined ? {} : { HOTARU_BIND: options.bind })
            },
            grace: policy.grace
          }),
          intensity: policy.intensity,
          ...(policy.retryFailed === undefined ? {} : { retryFailed: policy.retryFailed })
        })
        .pipe(Effect.orDie)
    }

    const status = Effect.gen(function* () {
      const children = yield* supervisor.status
      const now = yield* Clock.currentTimeMillis
      return {
        host,
        pid: process.pid,
        nodes: children.map((c) => ({
          name: c.name,
          state: c.state,
          pid: c.pid ?? null,
          restarts: c.restarts,
          uptimeMs: Option.match(c.startedAt, { onNone: () => null, onSome: (t) => now - t }),
          lastExit: c.lastExit ?? null
        }))
      }
    })

    const stopping = yield* Deferred.make<void>()
    const stopped = yield* Deferred.make<void>()
    const stop = Effect.gen(function* () {
      if (!(yield* Deferred.succeed(stopping, undefined))) return yield* Deferred.await(stopped)
      const order = Master.stopOrder(config).filter((name) => only.includes(name))
      yield* Effect.log(`stopping ${order.join(", ")}`)
      yield* supervisor.stopAll(order, Duration.sum(policy.grace, Duration.seconds(1)))
      yield* Effect.log("every node stopped")
      yield* Deferred.succeed(stopped, undefined)
    }).pipe(Effect.uninterruptible)
    yield* Effect.addFinalizer(() => stop)

    const handlers = AgentService.toLayer({
      Status: () => status,
      Restart: ({ node }) =>
        only.includes(node)
          ? supervisor.reset(node, Duration.sum(policy.grace, Duration.seconds(1))).pipe(
              Effect.zipLeft(Effect.log(`restarted ${node} at the master's request`)),
              Effect.mapError(() => new AgentNoSuchNode({ node, host }))
            )
          : Effect.fail(new AgentNoSuchNode({ node, host })),
      // answer first: the agent's link goes when it is done
      Stop: () => Effect.asVoid(Effect.forkDaemon(Effect.zipRight(Effect.sleep("100 millis"), stop)))
    })
    const dial = master.roothost
    const link = yield* Layer.build(
      Remote.serve("master", AgentService, handlers).pipe(
        Layer.provideMerge(
          Remote.layer({
            name: agentName(host),
            parents: [{ name: "master", host: dial, port: master.rootport }],
            ...linkAuthOf(config)
          })
        )
      )
    )

    // say when the master link comes and goes, and why the master turns it away (once per reason)
    const remote = Context.get(link, Remote.Remote)
    yield* remote.changes("master").pipe(
      Stream.map((s) =>
        s._tag === "Connected"
          ? "linked to the master"
          : s.lastError?._tag === "RegistrationRefused"
            ? `the master refuses this agent: ${s.lastError.message}${
                s.lastError.reason === "UnknownName"
                  ? " (start the master with --only, leaving this host's nodes to agents)"
                  : s.lastError.reason === "DuplicateName"
                    ? ` (another agent of ${host} is linked)`
                    : ""
              }`
            : s.lastError === undefined
              ? "linking to the master"
              : `no link to the master (${s.lastError.message}): retrying`
      ),
      Stream.changes,
      Stream.runForEach((line) =>
        line.startsWith("linked") || line.startsWith("linking") ? Effect.log(line) : Effect.logWarning(line)
      ),
      Effect.forkScoped
    )

    yield* Effect.log(
      `agent of ${host} up: ${only.join(", ")}; linking to the master at ${dial}:${master.rootport}`
    )
    return { host, status, stop, awaitStop: Deferred.await(stopped) }
  }).pipe(Effect.annotateLogs({ node: "agent" }))

/**
 * The agent as a Layer (library use: `Layer.launch(Agent.layer(...))`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<Agent, AgentError, Transport | FileSystem.FileSystem | Path.Path> =>
  Layer.scoped(Agent, make(options))
