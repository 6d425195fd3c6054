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
 * hotaru's own optional keys are documented on each schema (`bind`, `frame`, `limits`,
 * `debugErrors`, `idleTimeout`, `maxInFlight`, `callTimeout`, `http` per server; `cache`,
 * `supervisor`, `heartbeat`, `adminToken`, `secret`, `tls`, `links` at the top level; `driver` and
 * `filename` inside `db`). A config firefly accepts, hotaru accepts: what it reads differently or
 * ignores (a `name` other than the key, `log`, `cpu`, unknown keys) comes back as warnings.
 *
 * @since 0.1.0
 */

import { Either } from "effect"
import * as Redacted from "effect/Redacted"
import { ConfigError } from "./internal/config/configError.js"
import { decode } from "./internal/config/decode.js"
import { MIN_SECRET_LENGTH } from "./internal/config/limits.js"
import type { Loaded } from "./internal/config/loaded.js"
import { warningsOf } from "./internal/config/warnings.js"

export { moduleCandidates, resolveModule } from "./internal/config/appModule.js"
export { BindConfig, bindAddress, defaultBind, isLoopback, type Listener } from "./internal/config/bind.js"
export { childrenOf } from "./internal/config/children.js"
export { ConfigError } from "./internal/config/configError.js"
export { crossCheck } from "./internal/config/crossCheck.js"
export { decode } from "./internal/config/decode.js"
export { FrameConfig, HttpConfig, LimitsConfig } from "./internal/config/edgeSchema.js"
export { MIN_SECRET_LENGTH } from "./internal/config/limits.js"
export { AdminToken, HeartbeatConfig, LinksConfig, Secret, TlsConfig } from "./internal/config/linkSchema.js"
export { type LoadOptions, load } from "./internal/config/load.js"
export type { Loaded } from "./internal/config/loaded.js"
export { MasterConfig, SupervisorConfig } from "./internal/config/masterSchema.js"
export { Port } from "./internal/config/primitives.js"
export { HotaruConfig, toJsonText } from "./internal/config/schema.js"
export { RemotePort, ServerConfig } from "./internal/config/serverSchema.js"
export { ShardingBlock } from "./internal/config/shardingSchema.js"
export { CacheConfig, DbConfig, MemcachedConfig } from "./internal/config/storeSchema.js"
export { TelemetryConfig } from "./internal/config/telemetrySchema.js"
export { warningsOf } from "./internal/config/warnings.js"

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
  given: string | Redacted.Redacted<string> | undefined
): Either.Either<Loaded, ConfigError> => {
  const secret = Redacted.isRedacted(given) ? Redacted.value(given) : given
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
  return Either.right({ ...loaded, config: { ...loaded.config, secret: Redacted.make(secret) } })
}
