/**
 * Entity sharding on @effect/cluster: entities addressed by id, placed on whichever runner node
 * owns their shard, moved when a runner dies.
 *
 * | config key (server) | what the node gets                                              |
 * |---------------------|-----------------------------------------------------------------|
 * | `runnerport`        | a cluster runner: its app registers entities (`Entity.toLayer`) |
 * | `entities: true`    | entity clients only (a net front, a gate)                        |
 *
 * Both use the top-level `db` (MariaDB/MySQL or PostgreSQL; the default SQLite file for one-host
 * development): runners, shard locks and persisted
 * messages live there (`@effect/cluster`'s SqlRunnerStorage and SqlMessageStorage, tables
 * `<prefix>_runners`, `<prefix>_locks`, `<prefix>_messages`, `<prefix>_replies`). Timings come from
 * the top-level `sharding` block (`HotaruConfig.ShardingBlock`).
 *
 * An entity is written the Effect way:
 *
 * ```ts
 * const Room = Entity.make("Room", [Rpc.make("join", { payload: { player: Schema.String }, success: … })])
 * export default Room.toLayer(Effect.succeed({ join: (req) => … }))     // a runner's app
 * const room = yield* Room.client; yield* room("lobby").join({ player }) // any node's app
 * ```
 *
 * The runner-to-runner transport is @effect/cluster's own protocol (msgpack RPC over TCP), behind
 * hotaru's handshake: no byte of it is read from a peer before the peer proved the cluster
 * `secret` (HMAC-SHA256 challenge–response over fresh nonces, as on node links), so a stock
 * cluster client or a process without the secret reaches no entity. A runnerport binds like a
 * rootport (`HotaruConfig.bindAddress(bind, "root")`, 127.0.0.1 by default), and binding it beyond
 * loopback is refused unless the cluster `secret` is set. The handshake authenticates; it does not
 * encrypt: across untrusted networks carry the runner ports over a private network or a tunnel.
 *
 * @since 0.1.0
 */

import type { AlreadyProcessingMessage, MailboxFull, PersistenceError } from "@effect/cluster/ClusterError"
import type * as ClusterSharding from "@effect/cluster/Sharding"
import * as ClusterShardingConfig from "@effect/cluster/ShardingConfig"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Data, Duration, Effect, Layer, Option } from "effect"
import type * as Redacted from "effect/Redacted"
import type * as Db from "./Db.js"
import * as HotaruConfig from "./HotaruConfig.js"
import * as internal from "./internal/cluster/sharding.js"
import { secretOf } from "./internal/config/secret.js"

/**
 * A node's cluster role, from its config entry.
 *
 * @since 0.1.0
 * @category models
 */
export type Role =
  | {
      readonly _tag: "Runner"
      /** Address the runner listens on. */
      readonly bind: string
      /** Address other runners and clients dial. */
      readonly host: string
      readonly port: number
    }
  | { readonly _tag: "Client" }

/**
 * A sharding layer that could not start.
 *
 * @since 0.1.0
 * @category errors
 */
export class ShardingError extends Data.TaggedError("ShardingError")<{
  readonly reason: "Unprotected" | "Start"
  readonly detail: string
}> {
  override get message(): string {
    return this.detail
  }
}

/**
 * hotaru's defaults for the `sharding` block (seconds), tuned for game rooms: a dead runner's
 * shards move within about `shardLockExpiration` (15 s), or sooner when its peers' pings fail.
 *
 * @since 0.1.0
 * @category utils
 */
export const defaults = {
  shardsPerGroup: 300,
  entityMaxIdleTime: 60,
  shardLockRefreshInterval: 3,
  shardLockExpiration: 15,
  refreshAssignmentsInterval: 2,
  runnerHealthCheckInterval: 5,
  entityMessagePollInterval: 10,
  entityReplyPollInterval: 0.2,
  sendRetryInterval: 0.1,
  entityTerminationTimeout: 15,
  prefix: "cluster"
} as const

/**
 * The cluster's `ShardingConfig` of one node: the `sharding` block over `defaults`, plus the
 * runner address (none for a client).
 *
 * @since 0.1.0
 * @category utils
 */
export const settingsOf = (
  block: HotaruConfig.ShardingBlock | undefined,
  role: Role
): ClusterShardingConfig.ShardingConfig["Type"] => {
  const b = { ...defaults, ...block }
  const s = (seconds: number) => Duration.millis(Math.round(seconds * 1000))
  return {
    ...ClusterShardingConfig.defaults,
    runnerAddress:
      role._tag === "Runner" ? Option.some(internal.address(role.host, role.port)) : Option.none(),
    runnerListenAddress:
      role._tag === "Runner" ? Option.some(internal.address(role.bind, role.port)) : Option.none(),
    shardsPerGroup: b.shardsPerGroup,
    entityMaxIdleTime: s(b.entityMaxIdleTime),
    shardLockRefreshInterval: s(b.shardLockRefreshInterval),
    shardLockExpiration: s(b.shardLockExpiration),
    refreshAssignmentsInterval: s(b.refreshAssignmentsInterval),
    runnerHealthCheckInterval: s(b.runnerHealthCheckInterval),
    entityMessagePollInterval: s(b.entityMessagePollInterval),
    entityReplyPollInterval: s(b.entityReplyPollInterval),
    sendRetryInterval: s(b.sendRetryInterval),
    entityTerminationTimeout: s(b.entityTerminationTimeout),
    // a stopping runner unregisters when its Sharding closes, just before it releases its shard
    // locks: unregistered early (the cluster's default, as soon as its entities start closing), its
    // peers see it gone while it still holds the locks, fail to take them and retry a second later
    preemptiveShutdown: false
  }
}

export { roleOf } from "./internal/config/runnerRole.js"

/**
 * Options of `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly role: Role
  readonly sharding?: HotaruConfig.ShardingBlock | undefined
  /** The cluster secret (config `secret` / env HOTARU_SECRET): required to bind beyond loopback. */
  readonly secret?: string | Redacted.Redacted<string> | undefined
  /** Deadline of the runner socket's handshake (default 5 s; config `links.helloTimeout`). */
  readonly helloTimeout?: Duration.DurationInput | undefined
  /** The node's database: picks the default `prefix` (see `defaultPrefix`). */
  readonly db?: Db.DbOptions | undefined
}

/**
 * The default `sharding.prefix`: `"cluster"`, and on MySQL/MariaDB `cluster_<database>`, because
 * the cluster's shard locks there are server-wide named locks (`GET_LOCK('<prefix>.<shard>')`):
 * two clusters on one MariaDB server with the same prefix would take each other's shards.
 *
 * @since 0.1.0
 * @category utils
 */
export const defaultPrefix = (db: Db.DbOptions | undefined): string =>
  db?.driver === "mysql" && db.db !== undefined
    ? `cluster_${db.db.replace(/[^A-Za-z0-9_]/g, "_").slice(0, 32)}`
    : defaults.prefix

/**
 * `EntitySharding` (entity clients, and entity hosting on a runner) over the node's `SqlClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<ClusterSharding.Sharding, ShardingError, SqlClient.SqlClient> => {
  const { role } = options
  if (role._tag === "Runner" && options.secret === undefined && !HotaruConfig.isLoopback(role.bind)) {
    return Layer.fail(
      new ShardingError({
        reason: "Unprotected",
        detail:
          `runnerport ${role.port} would bind ${role.bind}, beyond loopback, with no cluster secret to ` +
          `authenticate its peers: set the cluster "secret" (or env HOTARU_SECRET), or bind the runner to 127.0.0.1`
      })
    )
  }
  const config = settingsOf(options.sharding, role)
  return internal
    .layer(config, options.sharding?.prefix ?? defaultPrefix(options.db), {
      secret: secretOf(options.secret),
      helloTimeout: options.helloTimeout
    })
    .pipe(Layer.mapError((e) => new ShardingError({ reason: "Start", detail: `runner: ${e.message}` })))
}

/**
 * Failures of the cluster itself that an entity client may see besides the entity's own errors.
 *
 * @since 0.1.0
 * @category models
 */
export type ClusterFailure = MailboxFull | AlreadyProcessingMessage | PersistenceError

const clusterTags: ReadonlySet<string> = new Set([
  "MailboxFull",
  "AlreadyProcessingMessage",
  "PersistenceError"
])

/**
 * Turn the cluster's own failures of an entity call (mailbox full, storage down) into defects,
 * keeping the entity's typed errors: what a net handler wants (the client gets a `Defect` frame,
 * the node logs the cause).
 *
 * @since 0.1.0
 * @category utils
 */
export const orDieCluster = <A, E, R>(
  call: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, ClusterFailure>, R> =>
  Effect.catchIf(
    call,
    (e): e is Extract<E, ClusterFailure> =>
      typeof e === "object" && e !== null && "_tag" in e && clusterTags.has(String(e._tag)),
    (e) => Effect.die(e)
  ) as Effect.Effect<A, Exclude<E, ClusterFailure>, R>
