/**
 * The `hotaru` command line (@effect/cli):
 *
 * ```
 * hotaru start [CONFIG] [--in-process] [--entry FILE]   run the master and every node
 * hotaru node NAME [CONFIG]                              run one node alone (firefly's "single")
 * hotaru stop [CONFIG] [--token T]                       ask the master to stop the whole tree
 * hotaru reload [CONFIG] [--token T]                     every node re-imports its app/reload module
 * hotaru status [CONFIG] [--json]                        the tree: nodes, pids, states, restarts
 * hotaru init DIR [--from TGZ|RANGE]                    scaffold a working project
 * ```
 *
 * CONFIG defaults to `config.json`. The admin token comes from `--token`, env
 * `HOTARU_ADMIN_TOKEN`, the config's `adminToken`, or the file a master writes beside the config.
 *
 * @since 0.1.0
 */
import { Args, Command, Options } from "@effect/cli"
import { FileSystem, Path } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Data, Effect, Layer, Option, Schedule } from "effect"
import * as Config from "./Config.js"
import { MissingPackageError } from "./internal/optionalPackage.js"
import { scaffold } from "./internal/scaffold.js"
import { needsTsx } from "./internal/typescript.js"
import * as Main from "./Main.js"
import * as Master from "./Master.js"
import { Transport } from "./Transport.js"

/** An admin request to a master that failed. */
export class AdminRequestError extends Data.TaggedError("AdminRequestError")<{
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

/** The command running a user's entry file: TypeScript on Node goes through tsx (an optional peer). */
const entryCommand = (file: string) =>
  needsTsx(file)
    ? Effect.try({
        try: () => [process.execPath, "--import", import.meta.resolve("tsx"), file],
        catch: (cause) =>
          new MissingPackageError({
            package: "tsx",
            feature: `running the TypeScript entry ${file} on Node`,
            cause
          })
      })
    : Effect.succeed([process.execPath, file])

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
    )
  },
  ({ config, entry, inProcess }) =>
    Effect.gen(function* () {
      const loaded = yield* Config.load(config)
      const path = yield* Path.Path
      const master = yield* Master.make({
        config: loaded,
        mode: inProcess ? "in-process" : "process",
        ...(Option.isSome(entry) ? { entry: yield* entryCommand(path.resolve(entry.value)) } : {}),
        ...(process.env.HOTARU_ADMIN_TOKEN ? { token: process.env.HOTARU_ADMIN_TOKEN } : {})
      })
      yield* master.awaitStop
    }).pipe(Effect.scoped, Effect.provide(Transport.layerTcp()))
).pipe(Command.withDescription("start the master, which starts and supervises every node of CONFIG"))

const node = Command.make(
  "node",
  {
    name: Args.text({ name: "name" }).pipe(Args.withDescription("the server's name in CONFIG")),
    config: configArg
  },
  ({ config, name }) => Main.node({ name, config, supervised: process.env.HOTARU_SUPERVISED === "1" })
).pipe(Command.withDescription("run one node of CONFIG alone (the master starts nodes this way)"))

/** Find the master's admin URL and token for a config. */
const adminOf = (configFile: string, token: Option.Option<string>) =>
  Effect.gen(function* () {
    const loaded = yield* Config.load(configFile)
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const master = loaded.config.master
    if (master?.webport === undefined) {
      return yield* new AdminRequestError({ url: loaded.file, detail: "the config has no master.webport" })
    }
    const host = master.roothost ?? "127.0.0.1"
    const fromFile = yield* fs.readFileString(Master.tokenFile(loaded, path)).pipe(
      Effect.map((t) => t.trim()),
      Effect.option
    )
    const resolved = Option.orElse(token, () =>
      Option.fromNullable(process.env.HOTARU_ADMIN_TOKEN ?? loaded.config.adminToken).pipe(
        Option.orElse(() => fromFile)
      )
    )
    return { base: `http://${host}:${master.webport}`, token: resolved }
  })

const request = (
  base: string,
  method: "GET" | "POST",
  path: string,
  token: Option.Option<string>
): Effect.Effect<unknown, AdminRequestError> =>
  Effect.tryPromise({
    try: async () => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: Option.isSome(token) ? { authorization: `Bearer ${token.value}` } : {},
        signal: AbortSignal.timeout(60_000)
      })
      const text = await response.text()
      if (!response.ok) throw new Error(`HTTP ${response.status}: ${text}`)
      return text === "" ? undefined : (JSON.parse(text) as unknown)
    },
    catch: (e) => new AdminRequestError({ url: `${base}${path}`, detail: (e as Error).message })
  })

const stop = Command.make("stop", { config: configArg, token: tokenOption }, ({ config, token }) =>
  Effect.gen(function* () {
    const admin = yield* adminOf(config, token)
    yield* request(admin.base, "POST", "/stop", admin.token)
    yield* Console.log("stopping: the master stops every node, then exits")
    // the master has stopped every node when its admin port is gone
    yield* request(admin.base, "GET", "/status", Option.none()).pipe(
      Effect.repeat(Schedule.spaced("200 millis")),
      Effect.ignore,
      Effect.timeout("2 minutes"),
      Effect.ignore
    )
    yield* Console.log("stopped")
  })
).pipe(Command.withDescription("stop the master of CONFIG and every node, in order"))

const reload = Command.make("reload", { config: configArg, token: tokenOption }, ({ config, token }) =>
  Effect.gen(function* () {
    const admin = yield* adminOf(config, token)
    const result = (yield* request(admin.base, "POST", "/reload", admin.token)) as {
      readonly nodes: ReadonlyArray<{ readonly node: string; readonly result: string }>
    }
    for (const n of result.nodes) yield* Console.log(`${n.node}: ${n.result}`)
  })
).pipe(Command.withDescription("make every node re-import its reload/app module"))

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
export const formatStatus = (report: Master.StatusReport): string => {
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
    json: Options.boolean("json").pipe(Options.withDescription("print the /status JSON"))
  },
  ({ config, json }) =>
    Effect.gen(function* () {
      const admin = yield* adminOf(config, Option.none())
      const report = (yield* request(admin.base, "GET", "/status", Option.none())) as Master.StatusReport
      yield* Console.log(json ? JSON.stringify(report, null, 2) : formatStatus(report))
    })
).pipe(Command.withDescription("show every node of the running tree"))

const init = Command.make(
  "init",
  {
    dir: Args.directory({ name: "dir", exists: "either" }).pipe(
      Args.withDescription("where to create the project")
    ),
    from: Options.text("from").pipe(
      Options.withDescription(
        "the hotaru-rt to depend on: a packed .tgz (copied into vendor/) or a version range (default: this hotaru, packed)"
      ),
      Options.optional
    )
  },
  ({ dir, from }) =>
    Effect.gen(function* () {
      const written = yield* scaffold(dir, { from: Option.getOrUndefined(from) })
      for (const file of written) yield* Console.log(`created ${file}`)
      yield* Console.log(`\nnext: cd ${dir} && npm install && npm start   (npm test runs its test)`)
    })
).pipe(Command.withDescription("create a project: config, an echo app, a client script and a test"))

const hotaru = Command.make("hotaru").pipe(
  Command.withDescription("hotaru: a distributed game-server runtime on Effect"),
  Command.withSubcommands([start, node, stop, reload, status, init])
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
