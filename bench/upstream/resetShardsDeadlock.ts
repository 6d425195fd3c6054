/**
 * Does `resetShards` fail on MariaDB while shards change hands under persisted load? Stock
 * @effect/cluster 0.60 only (no hotaru code): docs/upstream-cluster-cost.md, "a failed
 * `resetShards` hides a dead runner's read messages for 10 minutes".
 *
 * Two runners (A, B) and a client-only `Sharding`, all in this process, each with its own MariaDB
 * pool (as separate processes would have), on `SqlMessageStorage` + `SqlRunnerStorage` with a
 * unique table prefix (dropped after) and the sharding settings of hotaru's arena. `--c` callers
 * send persisted `Say`s whose handler takes `--work` ms. Each round stops A gracefully (closes its
 * scope: B acquires A's shards and resets them) and starts A again (it takes its share back and
 * resets it), `--hold` s apart. Every `resetShards` call is observed on its way to the stock
 * storage (counted, its error kept; the call itself is unchanged, and `Sharding` ignores its
 * failure as it always does).
 *
 *   node --import tsx bench/upstream/resetShardsDeadlock.ts [--rounds 10] [--c 100] [--work 5] [--hold 2.5]
 *
 * Prints per round the resets and failed resets, and the unprocessed messages whose `last_read`
 * is over 5 s old (hidden from every storage read for 10 minutes); at the end the distinct errors.
 * Needs MariaDB on 127.0.0.1:3306 (root, no password, db `test`).
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as MessageStorage from "@effect/cluster/MessageStorage"
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
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { numberArg, parseArgs } from "../args.js"
import * as Kit from "./stockKit.js"

const args = parseArgs(process.argv.slice(2))
const rounds = numberArg(args, "rounds", 10)
const concurrency = numberArg(args, "c", 100)
const work = numberArg(args, "work", 5)
const hold = numberArg(args, "hold", 2.5)

const Say = Rpc.make("Say", {
  payload: { room: Schema.String, text: Schema.String },
  success: Schema.Struct({ room: Schema.String })
}).annotate(ClusterSchema.Persisted, true)
const Room = Entity.make("Room", [Say])
const RoomLive = Room.toLayer(
  Effect.succeed({ Say: ({ payload }) => Effect.as(Effect.sleep(work), { room: payload.room }) })
)

const mysql = Layer.orDie(
  MysqlClient.layer({ host: "127.0.0.1", port: 3306, username: "root", database: "test" })
)

interface Resets {
  ok: number
  failed: number
  readonly errors: Map<string, number>
}

/** The stock SQL storages on a pool of their own; every `resetShards` counted on its way. */
const storages = (
  prefix: string,
  resets: Resets,
  runnerAddress: Option.Option<RunnerAddress.RunnerAddress>
) => {
  const observed = Layer.effect(
    MessageStorage.MessageStorage,
    Effect.map(MessageStorage.MessageStorage, (s) =>
      MessageStorage.MessageStorage.of({
        ...s,
        resetShards: (ids) =>
          s.resetShards(ids).pipe(
            Effect.tap(() => {
              resets.ok++
            }),
            Effect.tapError((e) =>
              Effect.sync(() => {
                resets.failed++
                // the driver's own message, under the PersistenceError and the SqlError
                let deepest: unknown = e
                while (typeof deepest === "object" && deepest !== null && "cause" in deepest && deepest.cause)
                  deepest = deepest.cause
                const why = (deepest instanceof Error ? deepest.message : String(deepest)).slice(0, 160)
                resets.errors.set(why, (resets.errors.get(why) ?? 0) + 1)
              })
            )
          )
      })
    )
  ).pipe(Layer.provide(SqlMessageStorage.layerWith({ prefix })))
  return Layer.mergeAll(observed, SqlRunnerStorage.layerWith({ prefix })).pipe(
    Layer.provideMerge(ShardingConfig.layer({ ...Kit.arenaSettings, runnerAddress })),
    Layer.provide(Layer.fresh(mysql))
  )
}

const runner = (prefix: string, resets: Resets, address: RunnerAddress.RunnerAddress) =>
  RoomLive.pipe(
    Layer.provide(Sharding.layer),
    Layer.provide(Kit.socketRunner),
    Layer.provide([storages(prefix, resets, Option.some(address)), RunnerHealth.layerNoop]),
    Layer.provide(RpcSerialization.layerMsgPack)
  )

const main = Effect.gen(function* () {
  const prefix = Kit.uniquePrefix("rsd")
  const sql = Context.get(yield* Layer.build(mysql), SqlClient.SqlClient)
  yield* Kit.dropTablesAfter(sql, prefix)
  const resets: Resets = { ok: 0, failed: 0, errors: new Map() }
  const a = RunnerAddress.make("127.0.0.1", yield* Kit.freePort)
  const b = RunnerAddress.make("127.0.0.1", yield* Kit.freePort)
  yield* Layer.build(runner(prefix, resets, b))
  const startA = Effect.gen(function* () {
    const scope = yield* Scope.make()
    yield* Layer.buildWithScope(runner(prefix, resets, a), scope)
    return scope
  })
  let scopeA = yield* startA
  const client = yield* Layer.build(
    Kit.socketClient.pipe(
      Layer.provide(storages(prefix, { ok: 0, failed: 0, errors: new Map() }, Option.none())),
      Layer.provide(RpcSerialization.layerMsgPack)
    )
  )
  const makeClient = yield* Effect.provide(Room.client, client)
  let n = 0
  let answered = 0
  let failed = 0
  const call = (room: string) => makeClient(room).Say({ room, text: `line ${n++}` })
  yield* call("warm").pipe(Effect.retry(Schedule.spaced("100 millis")), Effect.timeout("60 seconds"))
  let running = true
  yield* Effect.forkScoped(
    Effect.forEach(
      Array.from({ length: concurrency }, (_, i) => i),
      (i) =>
        Effect.whileLoop({
          while: () => running,
          body: () =>
            // an interrupt-only exit too (a graceful stop strands persisted callers so:
            // strandedPersisted.ts): counted, and the caller goes on
            Effect.exit(Effect.timeout(call(`room${i}`), "10 seconds")).pipe(
              Effect.map((exit) => (Exit.isSuccess(exit) ? answered++ : failed++))
            ),
          step: () => undefined
        }),
      { concurrency: "unbounded", discard: true }
    )
  )
  const hidden = Effect.map(
    sql.unsafe<{ n: number }>(
      `SELECT COUNT(*) AS n FROM ${prefix}_messages WHERE processed = 0 AND last_read IS NOT NULL AND last_read < NOW() - INTERVAL 5 SECOND`
    ),
    (rows) => Number(rows[0]?.n ?? 0)
  )
  console.log(
    `stock @effect/cluster on MariaDB: 2 runners + a client in this process, c=${concurrency} persisted says ` +
      `(handler ${work} ms), ${rounds} rounds of stop A / start A, ${hold} s apart`
  )
  yield* Effect.sleep(`${hold} seconds`)
  for (let round = 1; round <= rounds; round++) {
    const before = { ...resets }
    yield* Scope.close(scopeA, Exit.void)
    yield* Effect.sleep(`${hold} seconds`)
    scopeA = yield* startA
    yield* Effect.sleep(`${hold} seconds`)
    console.log(
      `round ${String(round).padStart(2)}: resets ${resets.ok - before.ok} ok, ${resets.failed - before.failed} failed; ` +
        `answered ${answered}, failed calls ${failed}; unprocessed with last_read > 5 s old: ${yield* hidden}`
    )
  }
  running = false
  console.log(`resets ${resets.ok} ok, ${resets.failed} failed`)
  for (const [why, count] of resets.errors) console.log(`  ${count} x ${why}`)
  yield* Scope.close(scopeA, Exit.void)
})

main.pipe(Logger.withMinimumLogLevel(LogLevel.Error), Effect.scoped, Effect.runPromise).then(
  () => process.exit(process.exitCode ?? 0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
