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
 * - Stops cleanly: client-facing nodes first, then children before parents, each with a grace
 *   period (SIGTERM, then SIGKILL). Nodes exit by themselves when the master dies.
 * - Serves the admin web on `webport`: `GET /status`; `POST /stop`, `POST /reload` (also `GET`,
 *   as firefly's admin URLs) with `Authorization: Bearer <token>`.
 *
 * @since 0.1.0
 */

import { randomBytes } from "node:crypto"
import { fileURLToPath } from "node:url"
import { FileSystem, Path } from "@effect/platform"
import { Context, Data, Deferred, Duration, Effect, Layer, Option, Scope, Stream } from "effect"
import type * as Admin from "./Admin.js"
import { AdminService } from "./Admin.js"
import * as Config from "./Config.js"
import { runNode } from "./internal/process.js"
import * as Node from "./Node.js"
import * as Root from "./Root.js"
import * as Supervisor from "./Supervisor.js"
import { Transport } from "./Transport.js"
import * as Web from "./Web.js"

/**
 * How nodes run.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "process" | "in-process"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly config: Config.Loaded
  /** Default `process`. */
  readonly mode?: Mode
  /**
   * The program a node process runs, as `[command, ...args]`; `NAME` and `CONFIG` are appended.
   * Default: this package's `hotaru node` (firefly's `appmain.py` is the user's own file here).
   */
  readonly entry?: ReadonlyArray<string>
  /** Bearer token of the state-changing admin endpoints (default: config `adminToken`, else generated). */
  readonly token?: string
  /** Interface to bind the master's and the in-process nodes' listeners (default `0.0.0.0`). */
  readonly bindHost?: string
  /** How long a node's master link may stay down before the node is restarted (default 5 s). */
  readonly heartbeatGrace?: Duration.DurationInput
  /** How long a node may take to register with the master after it starts (default 30 s). */
  readonly startTimeout?: Duration.DurationInput
}

/**
 * One node in `/status`.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeReport {
  readonly name: string
  readonly state: Supervisor.ChildState
  readonly pid: number | null
  readonly restarts: number
  readonly uptimeMs: number | null
  readonly lastExit: string | null
  readonly linked: boolean
  readonly capabilities: ReadonlyArray<string>
  readonly parents: ReadonlyArray<Admin.NodeStatus["parents"][number]>
  readonly children: ReadonlyArray<string>
  readonly connections: number
  readonly reloads: number
}

/**
 * The `/status` document.
 *
 * @since 0.1.0
 * @category models
 */
export interface StatusReport {
  readonly master: {
    readonly pid: number
    readonly mode: Mode
    readonly uptimeMs: number
    readonly rootport: number
    readonly webport: number | null
  }
  readonly nodes: ReadonlyArray<NodeReport>
}

/**
 * The master could not start.
 *
 * @since 0.1.0
 * @category errors
 */
export class MasterError extends Data.TaggedError("MasterError")<{
  readonly reason: "NoMaster" | "Listen"
  readonly detail: string
}> {
  override get message(): string {
    return `master: ${this.detail}`
  }
}

/**
 * A running master.
 *
 * @since 0.1.0
 * @category services
 */
export class Master extends Context.Tag("hotaru/Master")<
  Master,
  {
    readonly status: Effect.Effect<StatusReport>
    /** Reload every linked node; per node the reloaded module or the error. */
    readonly reload: Effect.Effect<ReadonlyArray<{ readonly node: string; readonly result: string }>>
    /** Stop every node in order, then complete `awaitStop`. */
    readonly stop: Effect.Effect<void>
    /** Completes when a stop was requested and done (the CLI exits then). */
    readonly awaitStop: Effect.Effect<void>
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
export const stopOrder = (config: Config.HotaruConfig): ReadonlyArray<string> => {
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
    const bindHost = options.bindHost ?? "0.0.0.0"
    const names = Object.keys(config.servers)
    const heartbeatGrace = options.heartbeatGrace ?? Duration.seconds(5)
    const startTimeout = options.startTimeout ?? Duration.seconds(30)
    const policy = config.supervisor
    const grace = Duration.seconds(policy?.graceSeconds ?? 5)
    const token = options.token ?? config.adminToken ?? randomBytes(18).toString("base64url")
    const startedAt = Date.now()
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const transport = yield* Transport

    const rootContext = yield* Layer.build(
      Root.Root.layer({ name: "master", host: bindHost, port: master.rootport, accept: names })
    ).pipe(
      Effect.mapError(
        (e) => new MasterError({ reason: "Listen", detail: `rootport ${master.rootport}: ${e.message}` })
      )
    )
    const root = Context.get(rootContext, Root.Root)
    const supervisor = yield* Supervisor.make
    const stopped = yield* Deferred.make<void>()
    const stopping = yield* Deferred.make<void>()

    /** Fails when the node's master link, once up, stays down past the grace. */
    const watchLink = (name: string) =>
      Effect.gen(function* () {
        yield* root.awaitChild(name).pipe(
          Effect.timeoutFail({
            duration: startTimeout,
            onTimeout: () => `did not register with the master within ${Duration.format(startTimeout)}`
          })
        )
        yield* Supervisor.ready
        return yield* root.changes.pipe(
          Stream.filter((e) => e.name === name && e._tag === "Left"),
          Stream.mapEffect(() =>
            root.awaitChild(name).pipe(
              Effect.timeoutFail({
                duration: heartbeatGrace,
                onTimeout: () => "stopped answering heartbeats"
              })
            )
          ),
          Stream.runDrain,
          Effect.zipRight(Effect.never)
        )
      })

    const entry = options.entry ?? defaultEntry()
    const incarnation = (name: string): Effect.Effect<void, string, Scope.Scope> =>
      mode === "process"
        ? Effect.raceFirst(
            runNode({
              name,
              command: entry[0]!,
              args: [...entry.slice(1), name, loaded.file],
              cwd: loaded.dir,
              env: { HOTARU_SUPERVISED: "1" },
              grace
            }).pipe(Effect.mapError((e) => e.message)),
            watchLink(name)
          )
        : Effect.gen(function* () {
            const context = yield* Layer.build(
              Node.layer(loaded, name, {
                bindHost,
                master: { host: "127.0.0.1", port: master.rootport }
              })
            ).pipe(
              Effect.provideService(Transport, transport),
              Effect.provideService(FileSystem.FileSystem, fs),
              Effect.provideService(Path.Path, path),
              Effect.mapError((e) => e.message)
            )
            yield* Supervisor.reportPid(process.pid)
            const lifecycle = Context.get(context, Node.Lifecycle)
            const asked = Effect.zipRight(
              lifecycle.awaitShutdown,
              Effect.fail("stopped by an admin Stop call")
            )
            return yield* Effect.raceFirst(asked, watchLink(name))
          })

    for (const name of names) {
      yield* supervisor
        .start({
          name,
          run: incarnation(name),
          awaitReady: true,
          intensity: {
            maxRestarts: policy?.maxRestarts ?? 5,
            within: Duration.seconds(policy?.withinSeconds ?? 60)
          }
        })
        .pipe(Effect.orDie)
    }

    const nodeStatus = (name: string) =>
      Effect.gen(function* () {
        const children = yield* root.children
        if (!children.includes(name)) return Option.none<Admin.NodeStatus>()
        const client = yield* root.child(name, AdminService)
        return yield* client.Status().pipe(Effect.timeout("2 seconds"), Effect.option)
      })

    const status = Effect.gen(function* () {
      const children = yield* supervisor.status
      const now = Date.now()
      const nodes = yield* Effect.forEach(
        children,
        (c) =>
          Effect.map(
            nodeStatus(c.name),
            (s): NodeReport => ({
              name: c.name,
              state: c.state,
              pid: c.pid ?? null,
              restarts: c.restarts,
              uptimeMs: Option.match(c.startedAt, { onNone: () => null, onSome: (t) => now - t }),
              lastExit: c.lastExit ?? null,
              linked: Option.isSome(s),
              capabilities: Option.match(s, { onNone: () => [], onSome: (x) => x.capabilities }),
              parents: Option.match(s, { onNone: () => [], onSome: (x) => x.parents }),
              children: Option.match(s, { onNone: () => [], onSome: (x) => x.children }),
              connections: Option.match(s, { onNone: () => 0, onSome: (x) => x.connections }),
              reloads: Option.match(s, { onNone: () => 0, onSome: (x) => x.reloads })
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

    const reload = Effect.gen(function* () {
      const linked = yield* root.children
      return yield* Effect.forEach(
        linked.filter((n) => names.includes(n)),
        (node) =>
          Effect.flatMap(root.child(node, AdminService), (client) => client.Reload()).pipe(
            Effect.timeout("30 seconds"),
            Effect.match({
              onFailure: (e) => ({ node, result: `failed: ${"detail" in e ? e.detail : String(e)}` }),
              onSuccess: (r) => ({ node, result: `reloaded ${r.module}` })
            })
          ),
        { concurrency: "unbounded" }
      )
    })

    const stop = Effect.gen(function* () {
      if (!(yield* Deferred.succeed(stopping, undefined))) return yield* Deferred.await(stopped)
      const order = stopOrder(config)
      yield* Effect.log(`stopping ${order.join(", ")}`)
      yield* supervisor.stopAll(order, Duration.sum(grace, Duration.seconds(1)))
      yield* Effect.log("every node stopped")
      yield* Deferred.succeed(stopped, undefined)
    }).pipe(Effect.uninterruptible)

    yield* Effect.addFinalizer(() => stop)

    // admin web
    let webAddress = Option.none<{ readonly host: string; readonly port: number }>()
    if (master.webport !== undefined) {
      const guarded = Layer.mergeAll(
        Web.post("/stop", () => Effect.as(Effect.forkDaemon(stop), { stopping: true })),
        Web.get("/stop", () => Effect.as(Effect.forkDaemon(stop), { stopping: true })),
        Web.post("/reload", () => Effect.map(reload, (nodes) => ({ nodes }))),
        Web.get("/reloadmodule", () => Effect.map(reload, (nodes) => ({ nodes })))
      ).pipe(Web.requireToken(token))
      const routes = Layer.mergeAll(
        Web.get("/status", () => status),
        guarded
      )
      const webContext = yield* Layer.build(
        routes.pipe(Layer.provideMerge(Web.layer({ host: bindHost, port: master.webport })))
      ).pipe(
        Effect.mapError(
          (e) => new MasterError({ reason: "Listen", detail: `webport ${master.webport}: ${e.message}` })
        )
      )
      const address = Context.get(webContext, Web.WebAddress)
      webAddress = Option.some({ host: address.host, port: address.port })
    }

    // the token where the CLI of the same project finds it (readable by this user only)
    if (options.token === undefined && config.adminToken === undefined) {
      const file = tokenFile(loaded, path)
      yield* fs.writeFileString(file, `${token}\n`, { mode: 0o600 }).pipe(Effect.ignore)
      yield* Effect.addFinalizer(() => fs.remove(file).pipe(Effect.ignore))
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
export const tokenFile = (loaded: Config.Loaded, path: Path.Path): string =>
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
