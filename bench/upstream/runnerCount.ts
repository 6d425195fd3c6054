/**
 * Does a stock @effect/cluster 0.60 entity request cost more CPU as runners are added? No hotaru
 * code: docs/upstream-cluster-cost.md, "CPU per message as runners are added".
 *
 * For each runner count R (`--runners 1,2,3`): R runners and a client-only `Sharding`, all in
 * this process (one thread, so the CPU per message is the whole engine's, with no second process
 * competing for the 2 cores), each runner with its own MariaDB pool for the runners' table (a
 * unique prefix, dropped after), no message storage, hotaru's arena sharding settings, the
 * cluster's socket transport (msgpack). `--c` callers of a non-persisted `State` request on rooms
 * spread over the runners' shards, measured after the shards have settled.
 *
 *   node --import tsx bench/upstream/runnerCount.ts [--runners 1,2,3] [--c 100] [--duration 5] [--warmup 1]
 *
 * Prints per R: msg/s, CPU µs per message, and both against R = the first count.
 * Needs MariaDB on 127.0.0.1:3306 (root, no password, db `test`).
 */
import * as Entity from "@effect/cluster/Entity"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as Rpc from "@effect/rpc/Rpc"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as SqlClient from "@effect/sql/SqlClient"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
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
const counts = (args.get("runners") ?? "1,2,3").split(",").map(Number)
if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("--runners takes counts >= 1")

const State = Rpc.make("State", {
  payload: { room: Schema.String },
  success: Schema.Struct({ room: Schema.String, seq: Schema.Number })
})
const Room = Entity.make("Room", [State])
const RoomLive = Room.toLayer(
  Effect.succeed({ State: ({ payload }) => Effect.succeed({ room: payload.room, seq: 1 }) })
)

const mysql = Layer.orDie(
  MysqlClient.layer({ host: "127.0.0.1", port: 3306, username: "root", database: "test" })
)

/** The runners' table on a pool of its own (as a separate process would have), no message storage. */
const storage = (prefix: string, runnerAddress: Option.Option<RunnerAddress.RunnerAddress>) =>
  Layer.mergeAll(MessageStorage.layerNoop, SqlRunnerStorage.layerWith({ prefix })).pipe(
    Layer.provideMerge(ShardingConfig.layer({ ...Kit.arenaSettings, runnerAddress })),
    Layer.provide(Layer.fresh(mysql))
  )

const cell = (runners: number) =>
  Effect.gen(function* () {
    const prefix = Kit.uniquePrefix("rc")
    const sql = Context.get(yield* Layer.build(mysql), SqlClient.SqlClient)
    yield* Kit.dropTablesAfter(sql, prefix, ["runners", "locks"])
    for (let i = 0; i < runners; i++) {
      const address = RunnerAddress.make("127.0.0.1", yield* Kit.freePort)
      yield* Layer.build(
        RoomLive.pipe(
          Layer.provide(Sharding.layer),
          Layer.provide(Kit.socketRunner),
          Layer.provide([storage(prefix, Option.some(address)), RunnerHealth.layerNoop]),
          Layer.provide(RpcSerialization.layerMsgPack)
        )
      )
    }
    const client = yield* Layer.build(
      Kit.socketClient.pipe(
        Layer.provide(storage(prefix, Option.none())),
        Layer.provide(RpcSerialization.layerMsgPack)
      )
    )
    const makeClient = yield* Effect.provide(Room.client, client)
    const call = (room: string) => makeClient(room).State({ room })
    // every room answers once, then again after the shards had time to settle on every runner
    // (a shard that moves during the window would fail a caller, and so the cell)
    const everyRoom = Effect.forEach(
      Array.from({ length: concurrency }, (_, i) => `room${i}`),
      (room) => call(room).pipe(Effect.retry(Schedule.spaced("100 millis")), Effect.timeout("60 seconds")),
      { concurrency: "unbounded", discard: true }
    )
    yield* everyRoom
    yield* Effect.sleep("3 seconds")
    yield* everyRoom
    return yield* Kit.measure({ concurrency, warmup, duration, call })
  }).pipe(Effect.scoped)

const main = Effect.gen(function* () {
  console.log(
    `stock @effect/cluster non-persisted entity request, c=${concurrency}, ${duration} s after ${warmup} s ` +
      `warm-up, R runners + a client in this process (one thread), the arena's sharding settings`
  )
  let base: { rate: number; cpu: number } | undefined
  for (const runners of counts) {
    const w = yield* cell(runners)
    const rate = w.msgs / w.seconds
    const cpu = w.cpuUs / Math.max(w.msgs, 1)
    base ??= { rate, cpu }
    console.log(
      `${`${runners} runner${runners === 1 ? "" : "s"}`.padEnd(10)}${rate.toFixed(0).padStart(8)} msg/s` +
        `  ${cpu.toFixed(1).padStart(8)} µs CPU/msg  ${(rate / base.rate).toFixed(2)} x msg/s, ` +
        `${(cpu / base.cpu).toFixed(2)} x CPU/msg of ${counts[0]}`
    )
  }
})

main.pipe(Logger.withMinimumLogLevel(LogLevel.Warning), Effect.scoped, Effect.runPromise).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
