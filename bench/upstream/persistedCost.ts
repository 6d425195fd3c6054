/**
 * What a persisted entity request costs in stock @effect/cluster 0.60 (no hotaru code): W6's
 * persisted `say` target is ≥ 2,000 msg/s on MariaDB and on PostgreSQL; this is the engine's own
 * ceiling for it, with a handler that does nothing (docs/upstream-cluster-cost.md).
 *
 * One cell per database: `--c` concurrent callers of a persisted `Say` (`ClusterSchema.Persisted`)
 * on an `Entity`, from a client-only `Sharding` to a runner over the cluster's socket transport
 * (`SocketRunner`, `NodeClusterSocket`, msgpack), both in this process, both on
 * `SqlMessageStorage` + `SqlRunnerStorage` of that database (a unique table prefix, dropped
 * after), the sharding settings of hotaru's arena (message poll 1 s, reply poll 50 ms). The
 * handler answers at once: what is measured is the engine's storage path per message.
 *
 *   node --import tsx bench/upstream/persistedCost.ts [--c 100] [--duration 5] [--warmup 1] [--db mysql,pg] [--defaults]
 *
 * (`--defaults`: ShardingConfig's defaults, message poll 10 s and reply poll 200 ms.)
 *
 * Prints per cell: msg/s, CPU µs per message of this process (client, runner and both SQL
 * clients), and what the database did per message, from its own counters over the window:
 * MariaDB `Questions` and `Com_commit` (global status: keep the machine otherwise idle), PostgreSQL
 * `xact_commit`, `tup_inserted` and `tup_updated` of database `test` (pg_stat_database).
 * Needs MariaDB on 127.0.0.1:3306 (root, no password, db `test`) and PostgreSQL on 127.0.0.1:5432
 * (user postgres, db `test`).
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as Rpc from "@effect/rpc/Rpc"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as SqlClient from "@effect/sql/SqlClient"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { parseArgs } from "../args.js"
import * as Kit from "./stockKit.js"

const args = parseArgs(process.argv.slice(2))
const { concurrency, duration, warmup } = Kit.loadArgs(args)
const databases = (args.get("db") ?? "mysql,pg").split(",")
/** `--defaults`: the cluster's default sharding settings instead of the arena's. */
const defaults = args.has("defaults")

const Say = Rpc.make("Say", {
  payload: { room: Schema.String, text: Schema.String },
  success: Schema.Struct({ room: Schema.String, seq: Schema.Number })
}).annotate(ClusterSchema.Persisted, true)

const Room = Entity.make("Room", [Say])
const RoomLive = Room.toLayer(
  Effect.succeed({ Say: ({ payload }) => Effect.succeed({ room: payload.room, seq: 1 }) })
)

interface Database {
  readonly name: string
  readonly layer: Layer.Layer<SqlClient.SqlClient>
  /** The database's own counters, read now. */
  readonly counters: (sql: SqlClient.SqlClient) => Effect.Effect<Record<string, number>, unknown>
}

const mysql: Database = {
  name: "MariaDB",
  layer: Layer.orDie(
    MysqlClient.layer({ host: "127.0.0.1", port: 3306, username: "root", database: "test" })
  ),
  counters: (sql) =>
    Effect.map(
      sql.unsafe<{ Variable_name: string; Value: string }>(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_commit')"
      ),
      (rows) => Object.fromEntries(rows.map((r) => [r.Variable_name, Number(r.Value)]))
    )
}

const pg: Database = {
  name: "PostgreSQL",
  layer: Layer.orDie(
    PgClient.layer({ host: "127.0.0.1", port: 5432, username: "postgres", database: "test" })
  ),
  counters: (sql) =>
    Effect.map(
      // the statistics a transaction reads are a snapshot: clear it first
      Effect.zipRight(
        sql.unsafe("SELECT pg_stat_clear_snapshot()"),
        sql.unsafe<{ xact_commit: string; tup_inserted: string; tup_updated: string }>(
          "SELECT xact_commit, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = 'test'"
        )
      ),
      (rows) => Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, Number(v)]))
    )
}

interface Cell extends Kit.Window {
  readonly perMessage: Record<string, number>
}

const cell = (db: Database) =>
  Effect.gen(function* () {
    const prefix = Kit.uniquePrefix("pc")
    const context = yield* Layer.build(db.layer)
    const sql = Context.get(context, SqlClient.SqlClient)
    yield* Kit.dropTablesAfter(sql, prefix)
    const storage = (runnerAddress: Option.Option<RunnerAddress.RunnerAddress>) =>
      Layer.mergeAll(SqlMessageStorage.layerWith({ prefix }), SqlRunnerStorage.layerWith({ prefix })).pipe(
        Layer.provideMerge(ShardingConfig.layer({ ...(defaults ? {} : Kit.arenaSettings), runnerAddress })),
        Layer.provide(Layer.succeedContext(context))
      )
    const runnerAddress = RunnerAddress.make("127.0.0.1", yield* Kit.freePort)
    yield* Layer.build(
      RoomLive.pipe(
        Layer.provide(Sharding.layer),
        Layer.provide(Kit.socketRunner),
        Layer.provide([storage(Option.some(runnerAddress)), RunnerHealth.layerNoop]),
        Layer.provide(RpcSerialization.layerMsgPack)
      )
    )
    const client = yield* Layer.build(
      Kit.socketClient.pipe(
        Layer.provide(storage(Option.none())),
        Layer.provide(RpcSerialization.layerMsgPack)
      )
    )
    const makeClient = yield* Effect.provide(Room.client, client)
    let n = 0
    const call = (room: string) => makeClient(room).Say({ room, text: `line ${n++}` })
    // until the client-only Sharding has read the runner and its shards from the table
    yield* call("warm").pipe(Effect.retry(Schedule.spaced("100 millis")), Effect.timeout("60 seconds"))

    const window = yield* Kit.measure({ concurrency, warmup, duration, call, around: db.counters(sql) })
    const { before = {}, after = {} } = window
    const perMessage = Object.fromEntries(
      Object.keys(after).map((k) => [k, (after[k]! - (before[k] ?? 0)) / Math.max(window.msgs, 1)])
    )
    return { ...window, perMessage } satisfies Cell
  }).pipe(Effect.scoped)

const main = Effect.gen(function* () {
  console.log(
    `stock @effect/cluster persisted entity request (a handler that does nothing), c=${concurrency}, ` +
      `${duration} s after ${warmup} s warm-up, client and runner in this process, ` +
      `${defaults ? "the cluster's default settings" : "the arena's sharding settings"}`
  )
  for (const db of [mysql, pg].filter((d) => databases.includes(d === mysql ? "mysql" : "pg"))) {
    const r = yield* cell(db)
    const per = Object.entries(r.perMessage)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(", ")
    console.log(
      `${db.name.padEnd(11)}${(r.msgs / r.seconds).toFixed(0).padStart(7)} msg/s  ` +
        `${(r.cpuUs / Math.max(r.msgs, 1)).toFixed(0).padStart(6)} µs CPU/msg  per message: ${per}`
    )
  }
})

main.pipe(Logger.withMinimumLogLevel(LogLevel.Warning), Effect.scoped, Effect.runPromise).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
