/**
 * The `hotaru` command line (@effect/cli):
 *
 * ```
 * hotaru start [CONFIG] [--in-process] [--entry FILE] [--bind ADDR] [--only a,b]   run the master and every node (or only a, b)
 * hotaru join [CONFIG] --only c,d [--bind ADDR] [--entry FILE]   a host agent: run nodes c, d on this host for the master
 * hotaru node NAME [CONFIG] [--bind ADDR]               run one node alone (firefly's "single")
 * hotaru stop [CONFIG] [--token T]                       ask the master to stop the whole tree
 * hotaru reload [CONFIG] [--token T]                     validate CONFIG, then every node re-imports its app/reload module
 * hotaru restart NAME [CONFIG] [--token T]               restart one node now (its restart count reset)
 * hotaru status [CONFIG] [--json] [--ready NAME] [--token T]   the tree: nodes, hosts, pids, states, restarts
 * hotaru init DIR [--from TGZ|RANGE]                     scaffold a working project
 * ```
 *
 * CONFIG defaults to `config.json`. The admin token comes from `--token`, env
 * `HOTARU_ADMIN_TOKEN`, the config's `adminToken`, or the file a master writes beside the config
 * (refused if others can read it). `--bind ADDR` sets the address of the internal listeners
 * (rootports, webports, the admin web; never the public netport) over the config's `bind`; on
 * `stop`, `reload`, `restart` and `status` it says where the master's admin web was bound.
 *
 * A user error (no config, a bad config, no master running, …) prints one or two lines and
 * exits 1; `--verbose` anywhere on the command line (or `HOTARU_LOG=debug`) prints the whole
 * cause with its stack trace instead.
 *
 * @since 0.1.0
 */

import { Args, Command, Options } from "@effect/cli"
import { FetchHttpClient, HttpClientError, Path } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Layer, LogLevel, Option, Schedule } from "effect"
import * as AdminApi from "./AdminApi.js"
import * as Agent from "./Agent.js"
import * as HotaruConfig from "./HotaruConfig.js"
import { AdminRequestError, explain, isConnectionRefused, NotReady } from "./internal/cli/cliError.js"
import { scaffold } from "./internal/cli/scaffold.js"
import * as Env from "./internal/config/env.js"
import { MissingPackageError } from "./internal/config/optionalPackage.js"
import * as PrivateFile from "./internal/config/privateFile.js"
import { type Secret, secretOf } from "./internal/config/secret.js"
import { needsTsx } from "./internal/config/typescript.js"
import * as Main from "./Main.js"
import * as Master from "./Master.js"
import * as Transport from "./Transport.js"

export {
  /** An admin request to a master that failed. */
  AdminRequestError
} from "./internal/cli/cliError.js"

/** Name the command's config in a "no master is running" error. */
const namingConfig = (config: string) =>
  Effect.mapError(<E>(e: E) =>
    e instanceof AdminRequestError && e.reason === "NoMaster"
      ? new AdminRequestError({ reason: e.reason, url: e.url, detail: e.detail, config })
      : e
  )

const configArg = Args.file({ name: "config" }).pipe(
  Args.withDescription("the config.json of the cluster"),
  Args.withDefault("config.json")
)
const tokenOption = Options.redacted("token").pipe(
  Options.withDescription(
    "admin token (default: env HOTARU_ADMIN_TOKEN, config adminToken, or the master's token file)"
  ),
  Options.optional
)
/** `--only a,b`: node names, comma-separated (blanks ignored). */
const onlyOption = (description: string) =>
  Options.text("only").pipe(
    Options.withDescription(description),
    Options.map((text) =>
      text
        .split(",")
        .map((name) => name.trim())
        .filter((name) => name !== "")
    )
  )
const bindOption = Options.text("bind").pipe(
  Options.withDescription(
    "address of the internal listeners (rootports, webports, admin web; not the netport), over the config's bind"
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
    ),
    bind: bindOption,
    only: onlyOption(
      "run only these nodes here (comma-separated); the others run on other hosts under `hotaru join`"
    ).pipe(Options.optional)
  },
  ({ bind, config, entry, inProcess, only }) =>
    Effect.gen(function* () {
      const { adminToken, otlp, sampleRatio, secret, serviceName } = yield* Env.env
      const loaded = yield* HotaruConfig.load(config).pipe(
        Effect.flatMap((loaded) => HotaruConfig.withSecret(loaded, Option.getOrUndefined(secret))),
        // OTEL_* for the nodes of `--in-process` (node processes read them themselves)
        Effect.map((loaded) => Env.withTelemetryEnv(loaded, { otlp, serviceName, sampleRatio }))
      )
      yield* Main.logWarnings(loaded)
      const path = yield* Path.Path
      const master = yield* Master.make({
        config: loaded,
        mode: inProcess ? "in-process" : "process",
        ...(Option.isSome(entry) ? { entry: yield* entryCommand(path.resolve(entry.value)) } : {}),
        ...(Option.isSome(adminToken) ? { token: adminToken.value } : {}),
        ...(Option.isSome(bind) ? { bind: bind.value } : {}),
        ...(Option.isSome(only) ? { only: only.value } : {})
      }).pipe(Effect.provide(Transport.layerConfig(loaded)))
      yield* master.awaitStop
    }).pipe(Effect.scoped)
).pipe(
  Command.withDescription(
    "start the master, which starts and supervises every node of CONFIG (with --only: those nodes; host agents run the others)"
  )
)

const join = Command.make(
  "join",
  {
    config: configArg,
    only: onlyOption("the nodes to run on this host (comma-separated)"),
    bind: Options.text("bind").pipe(
      Options.withDescription(
        "this host's address: where its nodes' internal listeners bind (rootports, webports; not the netport), and its name in `hotaru status`"
      ),
      Options.optional
    ),
    entry: Options.file("entry").pipe(
      Options.withDescription("a node entry file to run instead of `hotaru node` (firefly's appmain)"),
      Options.optional
    )
  },
  ({ bind, config, entry, only }) =>
    Effect.gen(function* () {
      const { secret } = yield* Env.env
      const loaded = yield* HotaruConfig.load(config).pipe(
        Effect.flatMap((loaded) => HotaruConfig.withSecret(loaded, Option.getOrUndefined(secret)))
      )
      yield* Main.logWarnings(loaded)
      const path = yield* Path.Path
      const agent = yield* Agent.make({
        config: loaded,
        only,
        ...(Option.isSome(entry) ? { entry: yield* entryCommand(path.resolve(entry.value)) } : {}),
        ...(Option.isSome(bind) ? { bind: bind.value } : {})
      }).pipe(Effect.provide(Transport.layerConfig(loaded)))
      yield* agent.awaitStop
    }).pipe(Effect.scoped)
).pipe(
  Command.withDescription(
    "run a host agent: supervise the --only nodes of CONFIG on this host and report them to the master at master.roothost"
  )
)

const node = Command.make(
  "node",
  {
    name: Args.text({ name: "name" }).pipe(Args.withDescription("the server's name in CONFIG")),
    config: configArg,
    bind: bindOption
  },
  ({ bind, config, name }) =>
    Effect.flatMap(Env.env, (env) => {
      const address = Option.orElse(bind, () => env.bind)
      return Main.node({
        name,
        config,
        supervised: env.supervised,
        secret: Option.getOrUndefined(env.secret),
        adminToken: Option.getOrUndefined(env.adminToken),
        otlp: Option.getOrUndefined(env.otlp),
        serviceName: Option.getOrUndefined(env.serviceName),
        sampleRatio: Option.getOrUndefined(env.sampleRatio),
        ...(Option.isSome(address) ? { bind: address.value } : {})
      })
    })
).pipe(Command.withDescription("run one node of CONFIG alone (the master starts nodes this way)"))

/** Find the master's admin URL and token for a config. */
const adminOf = (configFile: string, token: Option.Option<Secret>, bind: Option.Option<string>) =>
  Effect.gen(function* () {
    const loaded = yield* HotaruConfig.load(configFile)
    const path = yield* Path.Path
    const master = loaded.config.master
    if (master?.webport === undefined) {
      return yield* new AdminRequestError({ url: loaded.file, detail: "the config has no master.webport" })
    }
    // the admin web's own address, unless it listens on every interface
    const bound = HotaruConfig.bindAddress(master.bind, "web", Option.getOrUndefined(bind))
    const host = bound === "0.0.0.0" || bound === "::" ? (master.roothost ?? "127.0.0.1") : bound
    const { adminToken } = yield* Env.env
    const given = Option.orElse(token, () =>
      Option.orElse(adminToken, () => Option.fromNullable(loaded.config.adminToken))
    )
    const resolved = Option.isSome(given)
      ? given
      : yield* PrivateFile.read(Master.tokenFile(loaded, path)).pipe(
          Effect.map((text) => Option.some(secretOf(text))),
          Effect.catchTag("TokenFileError", (e) =>
            e.reason === "Missing"
              ? Effect.succeed(Option.none<Secret>())
              : Effect.fail(new AdminRequestError({ url: loaded.file, detail: e.message }))
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
  admin: { readonly base: string; readonly token: Option.Option<Secret> },
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
          reason:
            HttpClientError.isHttpClientError(e) && e._tag === "RequestError" && isConnectionRefused(e.cause)
              ? "NoMaster"
              : (e as { readonly _tag?: unknown })._tag === "Unauthorized"
                ? "Unauthorized"
                : "Failed",
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
    }).pipe(namingConfig(config))
).pipe(Command.withDescription("stop the master of CONFIG and every node, in order"))

const reload = Command.make(
  "reload",
  { config: configArg, token: tokenOption, bind: bindOption },
  ({ bind, config, token }) =>
    Effect.gen(function* () {
      const admin = yield* adminOf(config, token, bind)
      const result = yield* callAdmin(admin, "/reload", (c) => c.admin.reload())
      for (const n of result.nodes) yield* Console.log(`${n.node}: ${n.result}`)
    }).pipe(namingConfig(config))
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
    }).pipe(namingConfig(config))
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

/** Rows as columns padded to their widest cell. */
const table = (rows: ReadonlyArray<ReadonlyArray<string>>): Array<string> => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd()
  )
}

/** An epoch-millis instant as UTC `YYYY-MM-DD HH:MM:SS`. */
const instant = (ms: number | null) =>
  ms === null ? "-" : new Date(ms).toISOString().slice(0, 19).replace("T", " ")

/** Every node's scheduled jobs, with their last and next run (none: no table). */
const jobLines = (report: AdminApi.StatusReport): Array<string> => {
  const jobs = report.nodes.flatMap((n) =>
    n.jobs.map((j) => [
      n.name,
      j.name,
      j.schedule,
      String(j.runs),
      String(j.failures),
      instant(j.lastRun?.startedAt ?? null),
      j.running ? "running" : (j.lastRun?.outcome ?? "-"),
      instant(j.nextRunAt)
    ])
  )
  if (jobs.length === 0) return []
  return [
    "",
    ...table([["NODE", "JOB", "SCHEDULE", "RUNS", "FAILURES", "LAST-RUN", "OUTCOME", "NEXT-RUN"], ...jobs])
  ]
}

/** The `/status` document as readable tables: the master, its nodes, then their scheduled jobs. */
export const formatStatus = (report: AdminApi.StatusReport): string => {
  const nodes = table([
    ["NODE", "HOST", "STATE", "PID", "RESTARTS", "UPTIME", "CLIENTS", "DEAD-LETTERS", "PARENTS", "CHILDREN"],
    ...report.nodes.map((n) => [
      n.name,
      n.host ?? "-",
      n.state,
      n.pid === null ? "-" : String(n.pid),
      String(n.restarts),
      duration(n.uptimeMs),
      String(n.connections),
      String(n.deadLettered),
      n.parents.map((p) => `${p.name}${p.connected ? "" : "(down)"}`).join(",") || "-",
      n.children.join(",") || "-"
    ])
  ])
  const m = report.master
  return [
    `master pid ${m.pid} (${m.mode}), up ${duration(m.uptimeMs)}, rootport ${m.rootport}`,
    ...nodes,
    ...jobLines(report)
  ].join("\n")
}

const status = Command.make(
  "status",
  {
    config: configArg,
    json: Options.boolean("json").pipe(Options.withDescription("print the /status JSON")),
    ready: Options.text("ready").pipe(
      Options.withDescription(
        "a readiness check of node NAME: exit 0 when it runs and is linked to the master, else 1"
      ),
      Options.optional
    ),
    token: tokenOption,
    bind: bindOption
  },
  ({ bind, config, json, ready, token }) =>
    Effect.gen(function* () {
      const admin = yield* adminOf(config, token, bind)
      const report = yield* callAdmin(admin, "/status", (c) => c.admin.status())
      if (Option.isSome(ready)) {
        const name = ready.value
        const node = report.nodes.find((n) => n.name === name)
        if (node === undefined) {
          return yield* new NotReady({ node: name, detail: "no such node in the master's status" })
        }
        if (node.state !== "running" || !node.linked) {
          return yield* new NotReady({
            node: name,
            detail: `${node.state}${node.linked ? "" : ", not linked to the master"}${node.host === null ? "" : ` (host ${node.host})`}`
          })
        }
        return yield* Console.log(`${name}: ready (running on ${node.host ?? "?"}, linked)`)
      }
      yield* Console.log(json ? JSON.stringify(report, null, 2) : formatStatus(report))
    }).pipe(namingConfig(config))
).pipe(Command.withDescription("show every node of the running tree, with each node's host"))

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
  Command.withDescription(
    "hotaru: a distributed game-server runtime on Effect (--verbose on any command: errors with their stack trace)"
  ),
  Command.withSubcommands([start, join, node, stop, reload, restart, status, init])
)

/** Parse `argv` (as `process.argv`) and run the command. */
export const run = Command.run(hotaru, { name: "hotaru", version: "0.1.0" })

/**
 * A failed command: with `verbose`, the whole cause (stack traces included) as an error log;
 * otherwise what went wrong and what to do, on stderr (`internal/cli/cliError.ts`).
 */
const report = (verbose: boolean) => (cause: Cause.Cause<unknown>) =>
  verbose
    ? Effect.logError(cause)
    : Effect.forEach(explain(cause), (line) => Console.error(line), { discard: true })

/** The program of `bin/hotaru.js`. `--verbose` (anywhere) is taken out before parsing. */
export const main = (argv: ReadonlyArray<string>): void => {
  const level = Main.levelFromEnv()
  const verbose = argv.includes("--verbose") || LogLevel.lessThanEqual(level, LogLevel.Debug)
  NodeRuntime.runMain(
    run(argv.filter((a) => a !== "--verbose")).pipe(
      Effect.tapErrorCause(report(verbose)),
      Effect.provide(Layer.merge(NodeContext.layer, Main.runtimeLayer(level, Main.formatFromEnv())))
    ),
    { disableErrorReporting: true, disablePrettyLogger: true }
  )
}
