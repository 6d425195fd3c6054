/**
 * The Schema of the whole config file, made of the blocks' Schemas.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { AdminToken, HeartbeatConfig, LinksConfig, Secret, TlsConfig } from "./linkSchema.js"
import { MasterConfig, SupervisorConfig } from "./masterSchema.js"
import { described, opt } from "./primitives.js"
import { ServerConfig } from "./serverSchema.js"
import { ShardingBlock } from "./shardingSchema.js"
import { CacheConfig, DbConfig, MemcachedConfig } from "./storeSchema.js"
import { TelemetryConfig } from "./telemetrySchema.js"
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
    adminToken: opt(AdminToken),
    /** hotaru: the cluster secret of node links (env HOTARU_SECRET wins); required beyond loopback. */
    secret: opt(Secret),
    /** hotaru: mutual TLS on node links (see `TlsConfig`). */
    tls: opt(TlsConfig),
    /** hotaru: node link limits (see `LinksConfig`). */
    links: opt(LinksConfig),
    /** hotaru: entity sharding over `runnerport` nodes (see `ShardingBlock`). */
    sharding: opt(ShardingBlock),
    /** hotaru: traces and their OTLP export (see `TelemetryConfig`). */
    telemetry: opt(TelemetryConfig)
  }),
  'a JSON object with "servers"',
  false
)
export type HotaruConfig = typeof HotaruConfig.Type

/**
 * `config` as the JSON text of a config file (its secrets revealed: for the 0600 snapshot a node
 * process starts from, never for a log).
 *
 * @since 0.1.0
 * @category utils
 */
export const toJsonText = (config: HotaruConfig): string =>
  JSON.stringify(Schema.encodeSync(HotaruConfig)(config), null, 2)
