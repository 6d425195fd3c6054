/**
 * The Schema of the `sharding` block (@effect/cluster runners and entity clients).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { described, opt, PositiveNumber } from "./primitives.js"
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
