/**
 * The `hotaru` command line (@effect/cli):
 *
 * ```
 * hotaru start [CONFIG] [--in-process] [--entry FILE] [--bind ADDR]   run the master and every node
 * hotaru node NAME [CONFIG] [--bind ADDR]               run one node alone (firefly's "single")
 * hotaru stop [CONFIG] [--token T]                       ask the master to stop the whole tree
 * hotaru reload [CONFIG] [--token T]                     validate CONFIG, then every node re-imports its app/reload module
 * hotaru restart NAME [CONFIG] [--token T]               restart one node now (its restart count reset)
 * hotaru status [CONFIG] [--json] [--token T]            the tree: nodes, pids, states, restarts
 * hotaru init DIR                                        scaffold a working project
 * ```
 *
 * CONFIG defaults to `config.json`. The admin token comes from `--token`, env
 * `HOTARU_ADMIN_TOKEN`, the config's `adminToken`, or the file a master writes beside the config
 * (refused if others can read it). `--bind ADDR` sets the address of the internal listeners
 * (rootports, webports, the admin web; never the public netport) over the config's `bind`; on
 * `stop`, `reload`, `restart` and `status` it says where the master's admin web was bound.
 *
 * @since 0.1.0
 */
import { Args, Command, Options } from "@effect/cli"
import { FetchHttpClient, Path } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Data, Effect, Layer, Option, Schedule } from "effect"
import * as AdminApi from "./AdminApi.js"
import * as Config from "./Config.js"
import * as PrivateFile from "./internal/privateFile.js"
import { scaffold } from "./internal/scaffold.js"
import * as Main from "./Main.js"
import * as Master from "./Master.js"
import { Transport } from "./Transport.js"

/** An admin request to a master that failed. */
export class AdminRequestError extends Data.TaggedError("AdminRequestError")<{
  /**
   * `NoAdminWeb` (the config has no `master.webport`), `Token` (the token file is refused), or
   * how the call failed (`AdminApi.FailureKind`: `Refused`, `BadAnswer`, `Unreachable`, `Timeout`).
   */
  readonly reason: "NoAdminWeb" | "Token" | AdminApi.FailureKind
  readonly url: string
  readonly detail: string
}> {
  override get message(): string {
    return `${this.url}: ${this.detail}`
  }
}

const configArg = Args.file({ name: "config" }).pipe(
  Args.withDescription("the config.json of the cluster"),
  Args.withDefault("config.json")
)
const tokenOption = Options.text("token").pipe(
  Options.withDescription(
    "admin token (default: env HOTARU_ADMIN_TOKEN, config adminToken, or the master's token file)"
  ),
  Options.optional
)
const bindOption = Options.text("bind").pipe(
  Options.withDescription(
    "address of the internal listeners (rootports, webports, admin web; not the netport), over the config's bind"
  ),
  Options.optional
)

const start = Command.make(
  "start",
  {
    config: configArg,
    inProcess: Options.boolean("in-process").pipe(
      Options.withDescription("run every node as a fiber of the master's process instead of a child process")
    ),
    entry: Options.file("entry").pipe(
      Options.withDescription("a node entry file to run instead of `hotaru node` (firefly's appmain)"),
      Options.optional
    ),
    bind: bindOption
  },
  ({ bind, config, entry, inProcess }) =>
    Effect.gen(function* () {
      const loaded = yield* Config.load(config)
      const path = yield* Path.Path
      const master = yield* Master.make({
        config: loaded,
        mode: inProcess ? "in-process" : "process",
        ...(Option.isSome(entry)
          ? { entry: [process.execPath, "--import", import.meta.resolve("tsx"), path.resolve(entry.value)] }
          : {}),
        ...(process.env.HOTARU_ADMIN_TOKEN ? { token: process.env.HOTARU_ADMIN_TOKEN } : {}),
        ...(Option.isSome(bind) ? { bind: bind.value } : {})
      })
      yield* master.awaitStop
    }).pipe(Effect.scoped, Effect.provide(Transport.layerTcp()))
).pipe(Command.withDescription("start the master, which starts and supervises every node of CONFIG"))

const node = Command.make(
  "node",
  {
    name: Args.text({ name: "name" }).pipe(Args.withDescription("the server's name in CONFIG")),
    config: configArg,
    bind: bindOption
  },
  ({ bind, config, name }) => {
    const address = Option.getOrElse(bind, () => process.env.HOTARU_BIND ?? "")
    return Main.node({
      name,
      config,
      supervised: process.env.HOTARU_SUPERVISED === "1",
      ...(address === "" ? {} : { bind: address })
    })
  }
).pipe(Command.withDescription("run one node of CONFIG alone (the master starts nodes this way)"))

/** Find the master's admin URL and token for a config. */
const adminOf = (configFile: string, token: Option.Option<string>, bind: Option.Option<string>) =>
  Effect.gen(function* () {
    const loaded = yield* Config.load(configFile)
    const path = yield* Path.Path
    const master = loaded.config.master
    if (master?.webport === undefined) {
      return yield* new AdminRequestError({
        reason: "NoAdminWeb",
        url: loaded.file,
        detail: "the config has no master.webport"
      })
    }
    // the admin web's own address, unless it listens on every interface
    const bound = Config.bindAddress(master.bind, "web", Option.getOrUndefined(bind))
    const host = bound === "0.0.0.0" || bound === "::" ? (master.roothost ?? "127.0.0.1") : bound
    const given = Option.orElse(token, () =>
      Option.fromNullable(process.env.HOTARU_ADMIN_TOKEN ?? loaded.config.adminToken)
    )
    const resolved = Option.isSome(given)
      ? given
      : yield* PrivateFile.read(Master.tokenFile(loaded, path)).pipe(
          Effect.map(Option.some),
          Effect.catchTag("TokenFileError", (e) =>
            e.reason === "Missing"
              ? Effect.succeed(Option.none<string>())
              : Effect.fail(new AdminRequestError({ reason: "Token", url: loaded.file, detail: e.message }))
          )
        )
    const urlHost = host.includes(":") ? `[${host}]` : host
    return { base: `http://${urlHost}:${master.webport}`, token: resolved }
  })

/**
 * Runs one call of the admin API's derived client (`AdminApi.client`) against the master at
 * `base`; every failure (no master listening, an error answer, an answer that does not match its
 * Schema) becomes one `AdminRequestError` line.
 */
const callAdmin = <A, E>(
  admin: { readonly base: string; readonly token: Option.Option<string> },
  what: string,
  call: (client: AdminApi.Client) => Effect.Effect<A, E>
): Effect.Effect<A, AdminRequestError> =>
  AdminApi.client({ baseUrl: admin.base, token: Option.getOrUndefined(admin.token) }).pipe(
    Effect.flatMap(call),
    Effect.timeout("60 seconds"),
    Effect.provide(FetchHttpClient.layer),
    Effect.mapError(
      (e) =>
        new AdminRequestError({
          reason: AdminApi.failureKind(e),
          url: `${admin.base}${what}`,
          detail: AdminApi.describeError(e)
        })
    )
  )

const stop = Command.make(
  "stop",
  { config: configArg, token: tokenOption, bind: bindOption },
  ({ bind, config, token }) =>
    Effect.gen(function* () {
      const admin = yield* adminOf(config, token, bind)
      yield* callAdmin(admin, "/stop", (c) => c.admin.stop())
      yield* Console.log("stopping: the master stops every node, then exits")
      // the master has stopped every node when its admin port is gone
      yield* callAdmin(admin, "/status", (c) => c.admin.status()).pipe(
        Effect.repeat(Schedule.spaced("200 millis")),
        Effect.ignore,
        Effect.timeout("2 minutes"),
        Effect.ignore
      )
      yield* Console.log("stopped")
    })
).pipe(Command.withDescription("stop the master of CONFIG and every node, in order"))

const reload = Command.make(
  "reload",
  { config: configArg, token: tokenOption, bind: bindOption },
  ({ bind, config, token }) =>
    Effect.gen(function* () {
      const admin = yield* adminOf(config, token, bind)
      const result = yield* callAdmin(admin, "/reload", (c) => c.admin.reload())
      for (const n of result.nodes) yield* Console.log(`${n.node}: ${n.result}`)
    })
).pipe(
  Command.withDescription(
    "validate CONFIG (refused if broken or if it changes the topology), then make every node re-import its reload/app module"
  )
)

const restart = Command.make(
  "restart",
  {
    name: Args.text({ name: "name" }).pipe(Args.withDescription("the node's name in CONFIG")),
    config: configArg,
    token: tokenOption,
    bind: bindOption
  },
  ({ bind, config, name, token }) =>
    Effect.gen(function* () {
      const admin = yield* adminOf(config, token, bind)
      yield* callAdmin(admin, `/restart/${name}`, (c) => c.admin.restart({ path: { node: name } }))
      yield* Console.log(`${name}: restarted (restart count reset)`)
    })
).pipe(Command.withDescription("restart one node now, whatever its state (also a failed one)"))

const duration = (ms: number | null) => {
  if (ms === null) return "-"
  const s = Math.floor(ms / 1000)
  return s < 60
    ? `${s}s`
    : s < 3600
      ? `${Math.floor(s / 60)}m${s % 60}s`
      : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`
}

/** The `/status` document as a readable table. */
export const formatStatus = (report: AdminApi.StatusReport): string => {
  const rows = [
    ["NODE", "STATE", "PID", "RESTARTS", "UPTIME", "CLIENTS", "PARENTS", "CHILDREN"],
    ...report.nodes.map((n) => [
      n.name,
      n.state,
      n.pid === null ? "-" : String(n.pid),
      String(n.restarts),
      duration(n.uptimeMs),
      String(n.connections),
      n.parents.map((p) => `${p.name}${p.connected ? "" : "(down)"}`).join(",") || "-",
      n.children.join(",") || "-"
    ])
  ]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const lines = rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd()
  )
  const m = report.master
  return [
    `master pid ${m.pid} (${m.mode}), up ${duration(m.uptimeMs)}, rootport ${m.rootport}`,
    ...lines
  ].join("\n")
}

const status = Command.make(
  "status",
  {
    config: configArg,
    json: Options.boolean("json").pipe(Options.withDescription("print the /status JSON")),
    token: tokenOption,
    bind: bindOption
  },
  ({ bind, config, json, token }) =>
    Effect.gen(function* () {
      const admin = yield* adminOf(config, token, bind)
      const report = yield* callAdmin(admin, "/status", (c) => c.admin.status())
      yield* Console.log(json ? JSON.stringify(report, null, 2) : formatStatus(report))
    })
).pipe(Command.withDescription("show every node of the running tree"))

const init = Command.make(
  "init",
  {
    dir: Args.directory({ name: "dir", exists: "either" }).pipe(
      Args.withDescription("where to create the project")
    )
  },
  ({ dir }) =>
    Effect.gen(function* () {
      const written = yield* scaffold(dir)
      for (const file of written) yield* Console.log(`created ${file}`)
      yield* Console.log(`\nnext: cd ${dir} && npm install && npm start   (npm test runs its test)`)
    })
).pipe(Command.withDescription("create a project: config, an echo app, a client script and a test"))

const hotaru = Command.make("hotaru").pipe(
  Command.withDescription("hotaru: a distributed game-server runtime on Effect"),
  Command.withSubcommands([start, node, stop, reload, restart, status, init])
)

/** Parse `argv` (as `process.argv`) and run the command. */
export const run = Command.run(hotaru, { name: "hotaru", version: "0.1.0" })

/** The program of `bin/hotaru.js`. */
export const main = (argv: ReadonlyArray<string>): void =>
  NodeRuntime.runMain(
    run(argv).pipe(
      Effect.tapErrorCause((cause) => Effect.logError(cause)),
      Effect.provide(Layer.merge(NodeContext.layer, Main.runtimeLayer(Main.levelFromEnv())))
    ),
    { disableErrorReporting: true, disablePrettyLogger: true }
  )
