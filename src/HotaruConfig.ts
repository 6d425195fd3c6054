/**
 * The topology file: firefly's `config.json`, read as-is, plus a few optional hotaru keys.
 *
 * ```json
 * {
 *   "master":  { "roothost": "127.0.0.1", "rootport": 9999, "webport": 9998 },
 *   "servers": {
 *     "gate":  { "name": "gate",  "rootport": 10000, "app": "app.gateserver" },
 *     "net":   { "name": "net",   "netport": 10001,
 *                "remoteport": [{ "rootport": 10000, "rootname": "gate" }], "app": "app.netserver" }
 *   },
 *   "db":        { "host": "127.0.0.1", "user": "root", "passwd": "", "port": 3306, "db": "test" },
 *   "memcached": { "urls": ["127.0.0.1:11211"], "hostname": "test" }
 * }
 * ```
 *
 * hotaru's own optional keys are documented on each schema below (`bind`, `frame`, `limits`,
 * `debugErrors`, `idleTimeout`, `maxInFlight`, `callTimeout`, `http` per server; `cache`,
 * `supervisor`, `heartbeat`, `adminToken`, `secret`, `tls`, `links` at the top level; `driver` and
 * `filename` inside `db`). A config firefly accepts, hotaru accepts: what it reads differently or
 * ignores (a `name` other than the key, `log`, `cpu`, unknown keys) comes back as warnings.
 *
 * @since 0.1.0
 */
import { FileSystem, Path } from "@effect/platform"
import { Data, Effect, Either, ParseResult, Schema } from "effect"
import { MIN_SECRET_LENGTH } from "./internal/config/limits.js"

const got = (issue: ParseResult.ParseIssue): string => {
  const actual = issue.actual
  return actual === undefined ? "nothing" : JSON.stringify(actual)
}

const described = <S extends Schema.Schema.Any>(schema: S, expected: string, override = true) =>
  schema.annotations({
    message: (issue) => ({ message: `expected ${expected}, got ${got(issue)}`, override })
  }) as unknown as S

/** An optional key: absent is fine, `null` or a wrong type is not. */
const opt = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

/**
 * A TCP port: an integer 1..65535.
 *
 * @since 0.1.0
 * @category utils
 */
export const Port = described(Schema.Int.pipe(Schema.between(1, 65535)), "a port number 1-65535")

const Str = described(Schema.String, "a string")
const Bool = described(Schema.Boolean, "true or false")
const PositiveNumber = described(Schema.Number.pipe(Schema.positive()), "a positive number")
const Byte = described(Schema.Int.pipe(Schema.between(0, 255)), "a byte 0-255")
const UInt32 = described(Schema.Int.pipe(Schema.between(0, 0xffffffff)), "an unsigned 32-bit integer")

/**
 * hotaru's `bind` key (per server and on the master): the address each listener binds. A string
 * applies to the internal listeners (`root`, `web`); an object names each listener. Defaults: the
 * public `net` edge on all interfaces (`0.0.0.0`), every other listener on `127.0.0.1`.
 *
 * @since 0.1.0
 * @category utils
 */
export const BindConfig = described(
  Schema.Union(Str, Schema.Struct({ net: opt(Str), root: opt(Str), web: opt(Str) })),
  'an address string or {"net", "root", "web"} addresses',
  false
)
export type BindConfig = typeof BindConfig.Type

/**
 * A listener of a server or of the master.
 *
 * @since 0.1.0
 * @category models
 */
export type Listener = "net" | "root" | "web"

/**
 * Default address of a listener: the client edge is public, everything else is loopback.
 *
 * @since 0.1.0
 * @category utils
 */
export const defaultBind = (listener: Listener): string => (listener === "net" ? "0.0.0.0" : "127.0.0.1")

/**
 * The address a listener binds: `override` (the CLI's `--bind`, for internal listeners only),
 * else the config's `bind`, else the default.
 *
 * @since 0.1.0
 * @category utils
 */
export const bindAddress = (bind: BindConfig | undefined, listener: Listener, override?: string): string => {
  if (override !== undefined && listener !== "net") return override
  if (typeof bind === "string") return listener === "net" ? defaultBind("net") : bind
  return bind?.[listener] ?? defaultBind(listener)
}

/**
 * Whether an address is a loopback address (127.0.0.0/8, ::1, localhost).
 *
 * @since 0.1.0
 * @category utils
 */
export const isLoopback = (address: string): boolean =>
  address === "localhost" || address === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)

/**
 * One parent link of a server: firefly's `remoteport` entry.
 *
 * @since 0.1.0
 * @category utils
 */
export const RemotePort = Schema.Struct({
  rootport: Port,
  rootname: Str,
  roothost: opt(Str)
})
export type RemotePort = typeof RemotePort.Type

/**
 * The client frame settings of a `netport` (hotaru key `frame`): the four head bytes and the two
 * versions every frame must carry, and the largest body length accepted (default 1 MiB).
 *
 * @since 0.1.0
 * @category utils
 */
export const FrameConfig = Schema.Struct({
  head: opt(described(Schema.Tuple(Byte, Byte, Byte, Byte), "four bytes 0-255")),
  protoVersion: opt(Byte),
  serverVersion: opt(UInt32),
  maxLength: opt(described(Schema.Int.pipe(Schema.between(4, 0x7fffffff)), "a length 4..2^31-1"))
})
export type FrameConfig = typeof FrameConfig.Type

/**
 * hotaru's `http` block (per server for its `webport`, and on the master for its admin web):
 * limits of the HTTP listener. Defaults: 256 connections, headers within 10 s, the whole request
 * within 30 s, bodies up to 1 MiB (64 KiB on the master's admin web).
 *
 * @since 0.1.0
 * @category utils
 */
export const HttpConfig = Schema.Struct({
  /** Open connections at once; more are closed as they arrive (default 256). */
  maxConnections: opt(described(Schema.Int.pipe(Schema.between(1, 1000000)), "an integer 1-1000000")),
  /** Seconds a client may take to send the request headers (default 10). */
  headersTimeout: opt(PositiveNumber),
  /** Seconds a client may take to send the whole request, body included (default 30). */
  requestTimeout: opt(PositiveNumber),
  /** Largest request body in bytes; larger gets a 413 (default 1 MiB; admin web 64 KiB). */
  maxBodyBytes: opt(described(Schema.Int.pipe(Schema.between(0, 0x7fffffff)), "a byte count"))
})
export type HttpConfig = typeof HttpConfig.Type

const Count = described(Schema.Int.pipe(Schema.between(1, 10_000_000)), "an integer >= 1")
const Bytes = described(Schema.Int.pipe(Schema.between(1024, 0x7fffffff)), "a byte count 1024..2^31-1")
const Seconds = described(Schema.Number.pipe(Schema.nonNegative()), "a number of seconds >= 0 (0: off)")

/**
 * hotaru's `limits` block of a server: the limits of its client edge (`netport`). Every key is
 * optional; times are seconds, 0 turns a timer off.
 *
 * - `maxConnections` (20000): connections open at once; more are closed at once (counted, logged
 *   rate-limited).
 * - `maxConnectionsPerIp` (128): connections open at once from one IP address.
 * - `perIpExempt` (`["127.0.0.1", "::1"]`): addresses the per-IP cap does not apply to (a local
 *   proxy or load tool).
 * - `highWater` (65536 bytes): bytes queued for a client above which the server stops reading
 *   from it until they drain.
 * - `maxBuffered` (4194304 bytes): bytes queued for a client beyond which it is kicked as a slow
 *   consumer.
 * - `sendTimeout` (10): seconds a client may stay above `highWater` before it is kicked.
 * - `frameTimeout` (30): seconds a started frame has to complete (slowloris).
 * - `maxDepth` (64): deepest nesting of arrays/objects accepted in a JSON or msgpack body.
 *
 * @since 0.1.0
 * @category utils
 */
export const LimitsConfig = Schema.Struct({
  maxConnections: opt(Count),
  maxConnectionsPerIp: opt(Count),
  perIpExempt: opt(described(Schema.Array(Str), "a list of addresses", false)),
  highWater: opt(Bytes),
  maxBuffered: opt(Bytes),
  sendTimeout: opt(Seconds),
  frameTimeout: opt(Seconds),
  maxDepth: opt(described(Schema.Int.pipe(Schema.between(1, 10_000)), "an integer 1-10000"))
})
export type LimitsConfig = typeof LimitsConfig.Type

/**
 * One entry of `servers`.
 *
 * @since 0.1.0
 * @category utils
 */
export const ServerConfig = described(
  Schema.Struct({
    name: opt(Str),
    netport: opt(Port),
    webport: opt(Port),
    rootport: opt(Port),
    roothost: opt(Str),
    /** hotaru: listen addresses (see `BindConfig`). */
    bind: opt(BindConfig),
    /** hotaru: limits of the `webport` listener (see `HttpConfig`). */
    http: opt(HttpConfig),
    remoteport: opt(described(Schema.Array(RemotePort), "a list of {rootport, rootname}", false)),
    db: opt(Bool),
    mem: opt(Bool),
    app: opt(Str),
    log: opt(Str),
    cpu: opt(Schema.Unknown),
    reload: opt(Str),
    /** hotaru: client frame settings of the netport. */
    frame: opt(FrameConfig),
    /** hotaru: limits of the netport (see `LimitsConfig`). */
    limits: opt(LimitsConfig),
    /**
     * hotaru: put internal error text (handler failure messages, defects) in the error frames
     * sent to clients (default false; for development only).
     */
    debugErrors: opt(Bool),
    /** hotaru: close a client connection that sent nothing for this many seconds (default 60; 0: never). */
    idleTimeout: opt(Seconds),
    /**
     * hotaru: seconds a call to a parent waits for its link to come back before failing with
     * `NodeUnavailable` (default 0: fail at once).
     */
    callTimeout: opt(described(Schema.Number.pipe(Schema.nonNegative()), "a number of seconds >= 0")),
    /** hotaru: requests of one connection handled at once, beyond which reading pauses (default 32). */
    maxInFlight: opt(described(Schema.Int.pipe(Schema.between(1, 65535)), "an integer 1-65535")),
    /**
     * hotaru: make this node an @effect/cluster runner listening on this port (bound like the
     * rootport, see `Sharding`); its app may register entities.
     */
    runnerport: opt(Port),
    /** hotaru: the host other runners dial for this runner (default: its bind address, or 127.0.0.1). */
    runnerhost: opt(Str),
    /** hotaru: give this node entity clients of the cluster without hosting entities (e.g. a net front). */
    entities: opt(Bool)
  }),
  "an object",
  false
)
export type ServerConfig = typeof ServerConfig.Type

/**
 * The `master` block.
 *
 * @since 0.1.0
 * @category utils
 */
export const MasterConfig = Schema.Struct({
  roothost: opt(Str),
  rootport: Port,
  webport: opt(Port),
  /** hotaru: listen addresses of the master's rootport and admin web (see `BindConfig`). */
  bind: opt(BindConfig),
  /** hotaru: limits of the admin web (see `HttpConfig`). */
  http: opt(HttpConfig)
})
export type MasterConfig = typeof MasterConfig.Type

/**
 * firefly's top-level `db` block (MySQL), accepted as-is. hotaru adds `driver`
 * (`"mysql"` default when `host` is given, `"pg"`, `"sqlite"`) and `filename` for SQLite.
 *
 * @since 0.1.0
 * @category utils
 */
export const DbConfig = Schema.Struct({
  driver: opt(described(Schema.Literal("mysql", "pg", "sqlite"), '"mysql", "pg" or "sqlite"')),
  host: opt(Str),
  user: opt(Str),
  passwd: opt(Str),
  port: opt(Port),
  db: opt(Str),
  charset: opt(Str),
  filename: opt(Str)
})
export type DbConfig = typeof DbConfig.Type

/**
 * firefly's top-level `memcached` block, accepted as-is.
 *
 * @since 0.1.0
 * @category utils
 */
export const MemcachedConfig = Schema.Struct({
  urls: described(Schema.Array(Str), "a list of host:port strings", false),
  hostname: opt(Str)
})
export type MemcachedConfig = typeof MemcachedConfig.Type

/**
 * hotaru's `cache` block: which `mem` backend nodes with `"mem": true` use. Without it, the
 * `memcached` block selects memcached, and otherwise an in-process memory cache is used.
 *
 * @since 0.1.0
 * @category utils
 */
export const CacheConfig = Schema.Struct({
  driver: described(Schema.Literal("memory", "redis", "memcached"), '"memory", "redis" or "memcached"'),
  url: opt(Str),
  prefix: opt(Str),
  /**
   * What a `Repository` on this cache may promise: `"strict"` (default) refuses a backend that can
   * lose acknowledged writes (Redis without AOF or with an evicting `maxmemory-policy`, `CONFIG`
   * disabled, memcached) and writes through to the database on the in-process `memory` cache;
   * `"accept-loss"` accepts that a crash or an eviction may lose acknowledged writes (write-behind
   * everywhere, as firefly).
   */
  durability: opt(described(Schema.Literal("strict", "accept-loss"), '"strict" or "accept-loss"'))
})
export type CacheConfig = typeof CacheConfig.Type

/**
 * hotaru's `supervisor` block: restart policy of the master.
 *
 * @since 0.1.0
 * @category utils
 */
export const SupervisorConfig = Schema.Struct({
  maxRestarts: opt(described(Schema.Int.pipe(Schema.between(0, 1000)), "an integer 0-1000")),
  withinSeconds: opt(PositiveNumber),
  graceSeconds: opt(PositiveNumber),
  /**
   * What the master does with a node that restarted more than `maxRestarts` times within
   * `withinSeconds` (state `failed`): `"retry"` (default) keeps trying it at a slow capped rate
   * with jitter (state `failed-retrying`); `"exit"` stops every node and exits the master with a
   * non-zero code, so systemd or Kubernetes restarts the whole tree.
   */
  onFailed: opt(described(Schema.Literal("retry", "exit"), '"retry" or "exit"')),
  /** First delay, in seconds, before a `failed` node is retried (default 30; doubles per retry). */
  retrySeconds: opt(PositiveNumber),
  /** Largest delay, in seconds, between retries of a `failed` node (default 300). */
  retryMaxSeconds: opt(PositiveNumber)
})
export type SupervisorConfig = typeof SupervisorConfig.Type

/**
 * hotaru's `heartbeat` block: how node links detect a frozen peer (seconds; default 2 and 6).
 *
 * @since 0.1.0
 * @category utils
 */
export const HeartbeatConfig = Schema.Struct({
  interval: opt(PositiveNumber),
  timeout: opt(PositiveNumber)
})
export type HeartbeatConfig = typeof HeartbeatConfig.Type

export { MIN_SECRET_LENGTH }

/**
 * hotaru's `secret`: the cluster secret every node link proves it holds (see SECURITY.md).
 *
 * @since 0.1.0
 * @category utils
 */
export const Secret = described(
  Schema.String.pipe(Schema.minLength(MIN_SECRET_LENGTH)),
  `a string of at least ${MIN_SECRET_LENGTH} characters`
)

/**
 * hotaru's `tls` block: mutual TLS on every node link. PEM files, relative to the config's
 * directory: this node's `cert` and `key`, and the cluster `ca` every peer must chain to.
 *
 * @since 0.1.0
 * @category utils
 */
export const TlsConfig = Schema.Struct({ cert: Str, key: Str, ca: Str })
export type TlsConfig = typeof TlsConfig.Type

/**
 * hotaru's `links` block: limits of node links. `helloTimeout` (seconds a new link has to finish
 * its handshake, default 5), `maxFrameBytes` (largest frame after it, default 4 MiB),
 * `maxQueuedBytes` (unwritten bytes for one peer before the link is dropped, default 16 MiB).
 *
 * @since 0.1.0
 * @category utils
 */
export const LinksConfig = Schema.Struct({
  helloTimeout: opt(PositiveNumber),
  maxFrameBytes: opt(Bytes),
  maxQueuedBytes: opt(Bytes)
})
export type LinksConfig = typeof LinksConfig.Type

/**
 * hotaru's `sharding` block: settings of the @effect/cluster runners and entity clients (every
 * duration in seconds; see `Sharding.settingsOf` for the defaults). The same on every node.
 *
 * @since 0.1.0
 * @category utils
 */
export const ShardingBlock = Schema.Struct({
  /** Shards per shard group (default 300); never change it on a running cluster. */
  shardsPerGroup: opt(described(Schema.Int.pipe(Schema.between(1, 100_000)), "an integer 1-100000")),
  /** An entity idle this long is stopped (default 60). */
  entityMaxIdleTime: opt(PositiveNumber),
  /** How often a runner refreshes its shard locks and heartbeat (default 3). */
  shardLockRefreshInterval: opt(PositiveNumber),
  /** A runner silent this long loses its shards (default 15). */
  shardLockExpiration: opt(PositiveNumber),
  /** How often runners re-read the runner list and shard assignments (default 2). */
  refreshAssignmentsInterval: opt(PositiveNumber),
  /** How often runners ping each other to find dead ones (default 5). */
  runnerHealthCheckInterval: opt(PositiveNumber),
  /** How often stored (persisted) messages are polled (default 10). */
  entityMessagePollInterval: opt(PositiveNumber),
  /** How often replies to persisted messages are polled (default 0.2). */
  entityReplyPollInterval: opt(PositiveNumber),
  /** Delay before a message to an unassigned or unreachable entity is retried (default 0.1). */
  sendRetryInterval: opt(PositiveNumber),
  /** Time an entity has to stop when its shard moves (default 15). */
  entityTerminationTimeout: opt(PositiveNumber),
  /**
   * Prefix of the cluster's SQL tables and MySQL lock names (default `"cluster"`; on MySQL/MariaDB
   * `cluster_<database>`: named locks are server-wide, so two clusters on one server need two prefixes).
   */
  prefix: opt(
    described(Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]{0,40}$/)), "an SQL identifier")
  )
})
export type ShardingBlock = typeof ShardingBlock.Type

/**
 * The whole file.
 *
 * @since 0.1.0
 * @category utils
 */
export const HotaruConfig = described(
  Schema.Struct({
    master: opt(MasterConfig),
    servers: described(
      Schema.Record({ key: Schema.String, value: ServerConfig }),
      "an object of servers",
      false
    ),
    db: opt(DbConfig),
    memcached: opt(MemcachedConfig),
    cache: opt(CacheConfig),
    supervisor: opt(SupervisorConfig),
    heartbeat: opt(HeartbeatConfig),
    /** hotaru: token required by the admin endpoints that change state (or env HOTARU_ADMIN_TOKEN). */
    adminToken: opt(Str),
    /** hotaru: the cluster secret of node links (env HOTARU_SECRET wins); required beyond loopback. */
    secret: opt(Secret),
    /** hotaru: mutual TLS on node links (see `TlsConfig`). */
    tls: opt(TlsConfig),
    /** hotaru: node link limits (see `LinksConfig`). */
    links: opt(LinksConfig),
    /** hotaru: entity sharding over `runnerport` nodes (see `ShardingBlock`). */
    sharding: opt(ShardingBlock)
  }),
  'a JSON object with "servers"',
  false
)
export type HotaruConfig = typeof HotaruConfig.Type

/**
 * A loaded, checked topology: the decoded file plus where it came from (relative paths such as
 * `app` resolve against `dir`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded {
  readonly file: string
  readonly dir: string
  readonly config: HotaruConfig
  /**
   * What the file says that hotaru reads differently from firefly or ignores (`warningsOf`), one
   * line each; the CLI prints them at start.
   */
  readonly warnings?: ReadonlyArray<string>
  /**
   * Servers whose app is given in code (`LoadOptions.apps`): their modules were not checked, and a
   * re-read of the file (the master's reload) does not check them either.
   */
  readonly appsInCode?: ReadonlyArray<string>
}

/**
 * A config file that cannot be used. `issues` holds one line per problem.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly reason: "NotFound" | "InvalidJson" | "Invalid"
  readonly file: string
  readonly issues: ReadonlyArray<string>
}> {
  override get message(): string {
    return `${this.file}: ${this.issues.join("; ")}`
  }
}

const fmtPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, key) =>
      typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`,
    ""
  )

/**
 * Decode a parsed JSON value; every problem becomes one `path: message` line.
 *
 * @since 0.1.0
 * @category utils
 */
export const decode = (file: string, json: unknown): Either.Either<HotaruConfig, ConfigError> =>
  Schema.decodeUnknownEither(HotaruConfig, { errors: "all", onExcessProperty: "ignore" })(json).pipe(
    Either.mapLeft(
      (error) =>
        new ConfigError({
          reason: "Invalid",
          file,
          issues: ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => {
            const message = issue._tag === "Missing" ? "is required but missing" : issue.message
            return issue.path.length === 0 ? message : `${fmtPath(issue.path)}: ${message}`
          })
        })
    ),
    Either.flatMap((config) => {
      const issues = crossCheck(config)
      return issues.length === 0
        ? Either.right(config)
        : Either.left(new ConfigError({ reason: "Invalid", file, issues }))
    })
  )

/**
 * The checks no single field can make: parents that exist, ports used once per host (servers
 * with different `roothost`s may share port numbers), no parent cycle.
 *
 * @since 0.1.0
 * @category utils
 */
export const crossCheck = (config: HotaruConfig): ReadonlyArray<string> => {
  const issues: Array<string> = []
  const names = Object.keys(config.servers)
  // a port is used once per host: servers whose configured `roothost`s differ are on different
  // hosts and may use the same port numbers (one without a roothost may be on any host)
  const ports = new Map<number, Array<{ readonly where: string; readonly host: string | undefined }>>()
  const usePort = (port: number | undefined, where: string, host: string | undefined) => {
    if (port === undefined) return
    const users = ports.get(port) ?? []
    const first = users.find((u) => u.host === undefined || host === undefined || u.host === host)
    if (first !== undefined) issues.push(`${where}: port ${port} is already used by ${first.where}`)
    else ports.set(port, [...users, { where, host }])
  }
  if (config.master) {
    usePort(config.master.rootport, "master.rootport", config.master.roothost)
    usePort(config.master.webport, "master.webport", config.master.roothost)
  }
  for (const [key, server] of Object.entries(config.servers)) {
    if (key === "master") issues.push(`servers.master: "master" is reserved for the master`)
    usePort(server.netport, `servers.${key}.netport`, server.roothost)
    usePort(server.webport, `servers.${key}.webport`, server.roothost)
    usePort(server.rootport, `servers.${key}.rootport`, server.roothost)
    usePort(server.runnerport, `servers.${key}.runnerport`, server.roothost)
    server.remoteport?.forEach((link, i) => {
      const where = `servers.${key}.remoteport[${i}]`
      const parent = config.servers[link.rootname]
      if (parent === undefined) {
        issues.push(`${where}.rootname: "${link.rootname}" names no server (servers: ${names.join(", ")})`)
      } else if (parent.rootport === undefined) {
        issues.push(`${where}.rootname: "${link.rootname}" has no rootport to connect to`)
      } else if (parent.rootport !== link.rootport) {
        issues.push(
          `${where}.rootport: ${link.rootport} is not ${link.rootname}'s rootport (${parent.rootport})`
        )
      }
      if (link.rootname === key) issues.push(`${where}.rootname: "${key}" cannot be its own parent`)
    })
  }
  // cycle of parents: depth-first search over remoteport edges
  const state = new Map<string, "visiting" | "done">()
  const visit = (name: string, trail: Array<string>): void => {
    const s = state.get(name)
    if (s === "done") return
    if (s === "visiting") {
      const cycle = [...trail.slice(trail.indexOf(name)), name]
      issues.push(`servers.${name}.remoteport: cycle of parents ${cycle.join(" -> ")}`)
      return
    }
    state.set(name, "visiting")
    for (const link of config.servers[name]?.remoteport ?? []) {
      if (link.rootname !== name && config.servers[link.rootname] !== undefined) {
        visit(link.rootname, [...trail, name])
      }
    }
    state.set(name, "done")
  }
  for (const name of names) visit(name, [])
  return issues
}

const unknownKeys = (json: unknown, known: object, where: string): ReadonlyArray<string> =>
  typeof json === "object" && json !== null && !Array.isArray(json)
    ? Object.keys(json)
        .filter((key) => !Object.hasOwn(known, key))
        .map((key) => `${where}${key}: unknown key, ignored`)
    : []

/**
 * The notes a config that firefly accepts gets from hotaru, which accepts it too: a server's
 * `name` differing from its key (firefly and hotaru name a node by its key, as `appmain.py NAME`
 * does), firefly keys hotaru does not apply (`log`: hotaru logs to stdout; `cpu`: no CPU pinning),
 * and keys neither knows (with `json`, the file as parsed). One line each, as `path: note`.
 *
 * @since 0.1.0
 * @category utils
 */
export const warningsOf = (config: HotaruConfig, json?: unknown): ReadonlyArray<string> => {
  const warnings: Array<string> = [...unknownKeys(json, HotaruConfig.fields, "")]
  const raw = (json ?? {}) as {
    readonly master?: unknown
    readonly servers?: Readonly<Record<string, unknown>>
  }
  warnings.push(...unknownKeys(raw.master, MasterConfig.fields, "master."))
  for (const [key, server] of Object.entries(config.servers)) {
    const where = `servers.${key}`
    if (server.name !== undefined && server.name !== key) {
      warnings.push(
        `${where}.name: "${server.name}" differs from its key; the node is named "${key}" (by its key, as in firefly)`
      )
    }
    if (server.log !== undefined) {
      warnings.push(
        `${where}.log: not written; hotaru logs to stdout (the master prefixes each node's lines), redirect it to keep a file`
      )
    }
    if (server.cpu !== undefined) {
      warnings.push(
        `${where}.cpu: ignored; hotaru does not pin CPUs (start the master under taskset instead)`
      )
    }
    warnings.push(...unknownKeys(raw.servers?.[key], ServerConfig.fields, `${where}.`))
  }
  return warnings
}

/**
 * Candidate files of an `app` / `reload` entry: firefly's dotted module name
 * (`app.gateserver` → `app/gateserver.ts`, `.js`) or a path, relative to the config's directory.
 *
 * @since 0.1.0
 * @category utils
 */
export const moduleCandidates = (dir: string, spec: string, path: Path.Path): ReadonlyArray<string> => {
  const looksLikePath = spec.includes("/") || /\.(m|c)?(t|j)s$/.test(spec)
  if (looksLikePath) return [path.resolve(dir, spec)]
  const base = path.resolve(dir, ...spec.split("."))
  return [
    `${base}.ts`,
    `${base}.js`,
    `${base}.mts`,
    `${base}.mjs`,
    path.join(base, "index.ts"),
    path.join(base, "index.js")
  ]
}

/**
 * Resolve a server's `app` (or `reload`) module to an existing file.
 *
 * @since 0.1.0
 * @category utils
 */
export const resolveModule = (
  loaded: Loaded,
  server: string,
  key: "app" | "reload"
): Effect.Effect<string | undefined, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const spec = loaded.config.servers[server]?.[key]
    if (spec === undefined) return undefined
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const candidates = moduleCandidates(loaded.dir, spec, path)
    for (const candidate of candidates) {
      if (yield* fs.exists(candidate).pipe(Effect.orElseSucceed(() => false))) return candidate
    }
    return yield* new ConfigError({
      reason: "Invalid",
      file: loaded.file,
      issues: [
        `servers.${server}.${key}: "${spec}" resolves to no file (tried ${candidates
          .map((c) => path.relative(loaded.dir, c))
          .join(", ")})`
      ]
    })
  })

/** Check the `app` and `reload` module of every server whose app is not given in code exists. */
const checkModules = (loaded: Loaded, inCode: ReadonlyArray<string>) =>
  Effect.forEach(
    Object.keys(loaded.config.servers).filter((name) => !inCode.includes(name)),
    (name) => Effect.zipRight(resolveModule(loaded, name, "app"), resolveModule(loaded, name, "reload")),
    { discard: true }
  )

/**
 * Options of `load`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadOptions {
  /**
   * Servers whose app is given in code (`TestCluster.make({ apps })`, `Master.make({ apps })`,
   * `Main.runNode({ app })`): their `app`/`reload` entries are not required to name a file.
   */
  readonly apps?: ReadonlyArray<string> | undefined
}

/**
 * Read, decode and check a config file: its schema, its cross-checks, and that the `app` and
 * `reload` modules of every server exist (except those of `options.apps`, given in code).
 *
 * @since 0.1.0
 * @category utils
 */
export const load = (
  file: string,
  options: LoadOptions = {}
): Effect.Effect<Loaded, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const absolute = path.resolve(file)
    const text = yield* fs.readFileString(absolute).pipe(
      Effect.mapError((e) => {
        const why =
          e._tag === "SystemError" && e.reason === "NotFound"
            ? `no such file: ${absolute}`
            : e._tag === "SystemError" && e.reason === "PermissionDenied"
              ? `permission denied: ${absolute}`
              : e.message
        return new ConfigError({ reason: "NotFound", file, issues: [`cannot read the file (${why})`] })
      })
    )
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) =>
        new ConfigError({ reason: "InvalidJson", file, issues: [`not valid JSON: ${(e as Error).message}`] })
    })
    const config = yield* decode(file, json)
    const loaded: Loaded = {
      file: absolute,
      dir: path.dirname(absolute),
      config,
      warnings: warningsOf(config, json),
      ...(options.apps === undefined || options.apps.length === 0 ? {} : { appsInCode: options.apps })
    }
    yield* checkModules(loaded, options.apps ?? [])
    return loaded
  })

/**
 * Build a `Loaded` from an in-memory object (tests, embedded defaults).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromObject = (
  json: unknown,
  options: { readonly dir: string; readonly file?: string }
): Either.Either<Loaded, ConfigError> => {
  const file = options.file ?? "<inline config>"
  return decode(file, json).pipe(
    Either.map((config) => ({ file, dir: options.dir, config, warnings: warningsOf(config, json) }))
  )
}

/**
 * The config with its `secret` replaced by `secret` (env HOTARU_SECRET, read by the CLI and
 * `Main`), checked like the key; `undefined` or empty leaves the config as it is.
 *
 * @since 0.1.0
 * @category utils
 */
export const withSecret = (
  loaded: Loaded,
  secret: string | undefined
): Either.Either<Loaded, ConfigError> => {
  if (secret === undefined || secret === "") return Either.right(loaded)
  if (secret.length < MIN_SECRET_LENGTH) {
    return Either.left(
      new ConfigError({
        reason: "Invalid",
        file: loaded.file,
        issues: [`env HOTARU_SECRET: expected a string of at least ${MIN_SECRET_LENGTH} characters`]
      })
    )
  }
  return Either.right({ ...loaded, config: { ...loaded.config, secret } })
}

/**
 * Names of the servers that list `parent` in their `remoteport`.
 *
 * @since 0.1.0
 * @category utils
 */
export const childrenOf = (config: HotaruConfig, parent: string): ReadonlyArray<string> =>
  Object.entries(config.servers)
    .filter(([, server]) => server.remoteport?.some((link) => link.rootname === parent) ?? false)
    .map(([name]) => name)
