/**
 * What a non-persisted entity request costs in stock @effect/cluster 0.60 against a stock
 * @effect/rpc request over the same kind of socket (no hotaru code): the engine's share of W6's
 * gap to the direct link (docs/upstream-cluster-cost.md, BENCHMARKS.md "Where the entity path's
 * time goes").
 *
 * Two cells, each `--c` concurrent callers in a loop for `--duration` s after a warm-up, every
 * side in this one process (so CPU per message counts client and server together):
 *
 * - `rpc`: a `State` request/response of a stock `RpcGroup`, `RpcServer.layerProtocolSocketServer`
 *   on a `NodeSocketServer` (127.0.0.1:0), `RpcClient.layerProtocolSocket` over `NodeSocket.layerNet`,
 *   msgpack.
 * - `entity, remote`: the same `State` as an `Entity` rpc (`Room.client`), a client-only `Sharding`
 *   calling a runner's entity over the cluster's socket
 *   transport (`SocketRunner.layer` / `layerClientOnly`, `NodeClusterSocket` protocol, msgpack),
 *   the runners' table in MariaDB (`SqlRunnerStorage`, a unique prefix, dropped after).
 *
 *   node --import tsx bench/upstream/entityVsRpc.ts [--c 100] [--duration 5] [--warmup 1]
 *
 * Prints per cell: msg/s, CPU µs per message (process.cpuUsage over the window), and the ratio to
 * `rpc`. Needs MariaDB/MySQL on 127.0.0.1:3306 (root, no password, db `test`) for `entity, remote`;
 * its tables are created with a unique prefix and dropped.
 */
import * as Entity from "@effect/cluster/Entity"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as SocketServer from "@effect/platform/SocketServer"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as Rpc from "@effect/rpc/Rpc"
import * as RpcClient from "@effect/rpc/RpcClient"
import * as RpcGroup from "@effect/rpc/RpcGroup"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as RpcServer from "@effect/rpc/RpcServer"
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

const State = Rpc.make("State", {
  payload: { room: Schema.String },
  success: Schema.Struct({ room: Schema.String, seq: Schema.Number })
})
const answer = (room: string) => Effect.succeed({ room, seq: 1 })

type Cell = Kit.Window

const load = (call: (room: string) => Effect.Effect<unknown, unknown>) =>
  Kit.measure({ concurrency, warmup, duration, call })

// --- rpc: stock RpcServer / RpcClient over a socket --------------------------------------------

class Group extends RpcGroup.make(State) {}

const rpcCell = Effect.gen(function* () {
  const server = yield* Layer.build(
    RpcServer.layer(Group, { disableTracing: true }).pipe(
      Layer.provide(Group.toLayer({ State: ({ room }) => answer(room) })),
      Layer.provide(RpcServer.layerProtocolSocketServer),
      Layer.provideMerge(NodeSocketServer.layer({ host: "127.0.0.1", port: 0 })),
      Layer.provide(RpcSerialization.layerMsgPack)
    )
  )
  const address = Context.get(server, SocketServer.SocketServer).address
  if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("not a TCP address")
  const protocol = yield* Layer.build(
    RpcClient.layerProtocolSocket().pipe(
      Layer.provide(NodeSocket.layerNet({ host: "127.0.0.1", port: address.port })),
      Layer.provide(RpcSerialization.layerMsgPack)
    )
  )
  const client = yield* RpcClient.make(Group, { disableTracing: true }).pipe(Effect.provide(protocol))
  return yield* load((room) => client.State({ room }))
}).pipe(Effect.scoped)

// --- entities -----------------------------------------------------------------------------------

const Room = Entity.make("Room", [State])
const RoomLive = Room.toLayer(Effect.succeed({ State: ({ payload }) => answer(payload.room) }))

const callThrough = Effect.gen(function* () {
  const makeClient = yield* Room.client
  return (room: string) => makeClient(room).State({ room })
})

const entityRemoteCell = Effect.gen(function* () {
  const prefix = Kit.uniquePrefix("evr")
  const mysql = yield* Layer.build(
    MysqlClient.layer({ host: "127.0.0.1", port: 3306, username: "root", database: "test" })
  )
  yield* Kit.dropTablesAfter(Context.get(mysql, SqlClient.SqlClient), prefix, ["runners", "locks"])
  const storage = Layer.provide(SqlRunnerStorage.layerWith({ prefix }), Layer.succeedContext(mysql))
  const port = yield* Kit.freePort
  const runnerAddress = RunnerAddress.make("127.0.0.1", port)
  // the runner: serves the entity on its socket
  yield* Layer.build(
    RoomLive.pipe(
      Layer.provide(Sharding.layer),
      Layer.provide(Kit.socketRunner),
      Layer.provide([MessageStorage.layerNoop, storage, RunnerHealth.layerNoop]),
      Layer.provide(ShardingConfig.layer({ runnerAddress: Option.some(runnerAddress) })),
      Layer.provide(RpcSerialization.layerMsgPack)
    )
  )
  // the caller: a client-only Sharding that reaches it over the cluster's socket transport
  const client = yield* Layer.build(
    Kit.socketClient.pipe(
      Layer.provide([MessageStorage.layerNoop, storage]),
      Layer.provide(ShardingConfig.layer({ runnerAddress: Option.none() })),
      Layer.provide(RpcSerialization.layerMsgPack)
    )
  )
  const call = yield* Effect.provide(callThrough, client)
  // until the client-only Sharding has read the runner and its shards from the table
  yield* call("warm").pipe(Effect.retry(Schedule.spaced("100 millis")), Effect.timeout("60 seconds"))
  return yield* load(call)
}).pipe(Effect.scoped)

// --- main ---------------------------------------------------------------------------------------

const line = (label: string, cell: Cell, base: Cell | undefined) => {
  const rate = cell.msgs / cell.seconds
  const cpu = cell.cpuUs / Math.max(cell.msgs, 1)
  const ratio =
    base === undefined
      ? ""
      : `  ${(rate / (base.msgs / base.seconds)).toFixed(3)} x rpc msg/s, ${(cpu / (base.cpuUs / base.msgs)).toFixed(1)} x rpc CPU/msg`
  console.log(
    `${label.padEnd(16)}${rate.toFixed(0).padStart(8)} msg/s  ${cpu.toFixed(1).padStart(8)} µs CPU/msg${ratio}`
  )
}

const main = Effect.gen(function* () {
  console.log(
    `stock @effect/rpc vs stock @effect/cluster non-persisted entity request, c=${concurrency}, ` +
      `${duration} s after ${warmup} s warm-up, every side in this process`
  )
  const rpc = yield* rpcCell
  line("rpc", rpc, undefined)
  line("entity, remote", yield* entityRemoteCell, rpc)
})

main.pipe(Logger.withMinimumLogLevel(LogLevel.Warning), Effect.scoped, Effect.runPromise).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
