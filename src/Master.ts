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
 *   URLs); `POST /restart/NAME`. Beside it, a live dashboard at `/dashboard` (sign in with the
 *   token): the node tree, clients and message rates, dead letters, jobs, recent restarts.
 *
 * @since 0.1.0
 */

import { fileURLToPath } from "node:url"
import { FileSystem, Path } from "@effect/platform"
import { Clock, Context, Duration, Effect, Layer, Option, type Redacted, Ref, type Scope } from "effect"
import * as AdminApi from "./AdminApi.js"
import * as HotaruConfig from "./HotaruConfig.js"
import { isAgentName } from "./internal/cluster/agentRpc.js"
import * as Agents from "./internal/cluster/agents.js"
import { linkAuthOf } from "./internal/config/linkAuth.js"
import { heartbeatOf } from "./internal/config/nodePlan.js"
import { reveal, type Secret, secretOf } from "./internal/config/secret.js"
import * as AdminSurface from "./internal/control/adminSurface.js"
import * as DashboardData from "./internal/control/dashboardData.js"
import { MasterError, NodeRunError } from "./internal/control/masterErrors.js"
import { adminToken, snapshotFile, writeSnapshot } from "./internal/control/masterFiles.js"
import * as MasterOptions from "./internal/control/masterOptions.js"
import { policyOf } from "./internal/control/nodePolicy.js"
import * as NodeTree from "./internal/control/nodeTree.js"
import * as PlayersRoute from "./internal/control/playersRoute.js"
import { PlayersService } from "./internal/control/playersRpc.js"
import * as Node from "./Node.js"
import * as NodeSupervisor from "./NodeSupervisor.js"
import * as Root from "./Root.js"
import { Transport } from "./Transport.js"
import * as Web from "./Web.js"

export { stopOrder, topologyChanges } from "./internal/control/configTopology.js"
export { MasterError, NodeRunError } from "./internal/control/masterErrors.js"
export { snapshotFile, tokenFile } from "./internal/control/masterFiles.js"

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
   * file beside the config, else a generated one written there with mode 0600). Text is
   * redacted on the way in.
   */
  readonly token?: string | Redacted.Redacted<string>
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
 * A `reload` that was refused before any node was touched: the config file is broken or changes
 * the topology (the admin API's 409; see `AdminApi.ReloadRefused`).
 *
 * @since 0.1.0
 * @category errors
 */
export const ReloadRefused = AdminApi.ReloadRefused
export type ReloadRefused = AdminApi.ReloadRefused

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
    /** The admin token, `Redacted` (`Redacted.value` reads it). */
    readonly token: Redacted.Redacted<string>
    /** The bound admin web address, if the config has a `webport`. */
    readonly webAddress: Option.Option<{ readonly host: string; readonly port: number }>
  }
>() {}

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
    const { master, mode, names, apps, only, remote, appsInCode } = yield* MasterOptions.check(options)
    const heartbeatGrace = Duration.decode(options.heartbeatGrace ?? Duration.seconds(5))
    const startTimeout = Duration.decode(options.startTimeout ?? Duration.seconds(30))
    const policy = policyOf(config)
    const startedAt = yield* Clock.currentTimeMillis
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const transport = yield* Transport

    // the token: given, configured, or the one in the token file beside the config (0600)
    const token = yield* adminToken(secretOf(options.token) ?? config.adminToken, loaded, path)

    // the snapshot of the validated config that every (re)started node runs with
    const snapshot = yield* Ref.make<HotaruConfig.Loaded>(loaded)
    const snapshotPath = snapshotFile(loaded, path)
    if (mode === "process") yield* writeSnapshot(snapshotPath, config)

    const rootContext = yield* Layer.build(
      Root.layer({
        name: "master",
        host: HotaruConfig.bindAddress(master.bind, "root", options.bind),
        port: master.rootport,
        // host agents link too when some nodes run elsewhere
        accept: remote.length === 0 ? names : (name) => names.includes(name) || isAgentName(name),
        heartbeat: heartbeatOf(loaded), // the file's block: a frozen node is seen as its peers see it
        ...linkAuthOf(config)
      })
    ).pipe(
      Effect.mapError(
        (e) => new MasterError({ reason: "Listen", detail: `rootport ${master.rootport}: ${e.message}` })
      )
    )
    const root = Context.get(rootContext, Root.Root)
    yield* servePlayers(root)
    const supervisor = yield* NodeSupervisor.make
    const agents = yield* Agents.make(root, remote)

    // an in-process node: built in its incarnation's scope, ended by an admin Stop
    const build = (name: string) =>
      Effect.gen(function* () {
        const current = yield* Ref.get(snapshot)
        const context = yield* Layer.build(
          Node.layer(current, name, {
            ...(options.bind === undefined ? {} : { bind: options.bind }),
            ...(apps[name] === undefined ? {} : { app: apps[name] }),
            master: { host: dialAddress(master, options.bind), port: master.rootport },
            adminToken: token
          })
        ).pipe(
          Effect.provideService(Transport, transport),
          Effect.provideService(FileSystem.FileSystem, fs),
          Effect.provideService(Path.Path, path),
          Effect.mapError(
            (cause) => new NodeRunError({ reason: "BuildFailed", node: name, message: cause.message, cause })
          )
        )
        yield* NodeSupervisor.reportPid(process.pid)
        const lifecycle = Context.get(context, Node.Lifecycle)
        return Effect.zipRight(
          lifecycle.awaitShutdown,
          Effect.fail(
            new NodeRunError({
              reason: "StopRequested",
              node: name,
              message: "stopped by an admin Stop call"
            })
          )
        )
      })
    const entry = options.entry ?? defaultEntry()
    const env = nodeEnv(token, options.bind)
    const { stop, awaitStop, restart } = yield* NodeTree.make({
      config,
      root,
      supervisor,
      agents,
      policy,
      only,
      remote,
      startTimeout,
      heartbeatGrace,
      run:
        mode === "process"
          ? { _tag: "process", command: entry[0]!, args: entry.slice(1), snapshotPath, cwd: loaded.dir, env }
          : { _tag: "in-process", build }
    })
    const { status, reload, metrics } = yield* AdminSurface.make({
      loaded,
      root,
      supervisor,
      agents,
      names,
      localHost: master.roothost ?? HotaruConfig.bindAddress(master.bind, "root", options.bind),
      master: { pid: process.pid, mode, rootport: root.address.port, webport: master.webport ?? null },
      startedAt,
      snapshot,
      snapshotPath: mode === "process" ? Option.some(snapshotPath) : Option.none(),
      reread: path.isAbsolute(loaded.file)
        ? Option.some(
            HotaruConfig.load(loaded.file, { apps: appsInCode }).pipe(
              Effect.provideService(FileSystem.FileSystem, fs),
              Effect.provideService(Path.Path, path),
              Effect.mapError((e) => ReloadRefused.refuse("InvalidConfig", loaded.file, e.issues))
            )
          )
        : Option.none()
    })

    // admin web: the AdminApi, every endpoint behind the token
    let webAddress = Option.none<{ readonly host: string; readonly port: number }>()
    if (master.webport !== undefined) {
      const dashboard = yield* DashboardData.make({
        status,
        changes: supervisor.changes,
        parents: Object.fromEntries(
          names.map((n) => [n, (config.servers[n]?.remoteport ?? []).map((r) => r.rootname)])
        )
      })
      const webContext = yield* Layer.build(
        AdminApi.layer(
          { status, stop, reload, restart, metrics },
          {
            token,
            dashboard,
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
    return { status, reload, restart, stop, awaitStop, token, webAddress }
  }).pipe(Effect.annotateLogs({ node: "master" }))

/** Push and kick by player id from any node: the master routes them (see `Players`). */
const servePlayers = (root: Context.Tag.Service<Root.Root>) =>
  Layer.build(Root.serve(PlayersService, PlayersRoute.handlers(root))).pipe(
    Effect.provideService(Root.Root, root)
  )

/** The environment of a node process: supervised, the token guarding its /metrics, its bind. */
const nodeEnv = (token: Secret, bind: string | undefined): Record<string, string> => ({
  HOTARU_SUPERVISED: "1",
  HOTARU_ADMIN_TOKEN: reveal(token),
  ...(bind === undefined ? {} : { HOTARU_BIND: bind })
})

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
