/**
 * A minimal reproduction, against stock @effect/cluster 0.60 (no hotaru code), of what bounds a dead
 * runner's failover (W7) and a planned stop's (W8) (docs/upstream-cluster-cost.md):
 *
 * 1. `RunnerHealth.layerPing` (`makePing`: `runners.ping(address)` with `timeout(10_000)`,
 *    `retry({ times: 5, schedule: Schedule.spaced(500) })`), wired exactly as
 *    `@effect/platform-node/NodeClusterSocket.layer` wires it (`Runners.layerRpc` over
 *    `NodeClusterSocket.layerClientProtocol`, msgpack), is asked `isAlive` about a runner whose port
 *    refuses connections (a TCP server bound on 127.0.0.1:0, then closed). Each ping through the real
 *    socket transport fails in milliseconds, yet the answer `false` takes ≥ 2.5 s: six failed pings,
 *    500 ms apart. A raw `net.connect` to the same port is refused in about a millisecond. For
 *    contrast, `isAlive` on a live stock runner server (`RunnerServer.layer` on a `NodeSocketServer`
 *    bound to 127.0.0.1:0) answers `true` in milliseconds.
 * 2. (`--no-locks` skips it) The shard acquisition loop in `Sharding.ts` sleeps a fixed
 *    `Effect.sleep(1000)` after every `acquire`, also when a shard was refused only because its
 *    previous owner had not yet let go. A stock `Sharding` (with `SqlRunnerStorage.layerWith` on
 *    MariaDB, advisory locks, the default `shardLockRefreshInterval`) is started while another MySQL
 *    connection (standing in for the previous owner) holds `GET_LOCK('<prefix>.default:1')`; that
 *    lock is released `hold` ms after the runner's first `acquire`, and the script polls
 *    `sharding.hasShardId(default:1)` to see when the runner takes it: ~1 s after its first attempt,
 *    whatever `hold` was, so `1000 - hold` ms after the release.
 *
 *   node --import tsx bench/upstream/failoverBounds.ts [--n 3] [--holds 100,400,700] [--no-locks]
 *
 * Prints, for part 1: ms for each `isAlive(refused port)` (N tries), for one `Runners.ping` to that
 * port, for a raw `net.connect` refusal (N tries), and for `isAlive` on the live server; for
 * part 2, per hold: ms from start to the first acquire, from the release to the acquisition, and
 * from the first acquire to the acquisition. Needs MariaDB/MySQL on 127.0.0.1:3306 (root, no password, db `test`)
 * for part 2; it creates `<prefix>_runners` and `<prefix>_locks` with a unique prefix and drops them.
 *
 * Suggested upstream fixes: (1) let `RunnerHealth.layerPing` treat a refused connection
 * (`ECONNREFUSED` on open) as decisive, or take its retry schedule as an option (or ShardingConfig
 * setting); (2) after an `acquire` that left assigned shards unacquired, retry on a short or
 * configurable interval (or re-open the latch when a release is observed) instead of a fixed 1 s.
 */
import * as net from "node:net"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as RunnerServer from "@effect/cluster/RunnerServer"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Runners from "@effect/cluster/Runners"
import * as ShardId from "@effect/cluster/ShardId"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as SocketServer from "@effect/platform/SocketServer"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as RpcServer from "@effect/rpc/RpcServer"
import * as SqlClient from "@effect/sql/SqlClient"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { boolArg, numberArg, parseArgs } from "../args.js"

const args = parseArgs(process.argv.slice(2))
const tries = numberArg(args, "n", 3)
const holds = (args.get("holds") ?? "100,400,700").split(",").map(Number)
const skipLocks = boolArg(args, "no-locks", false)

const now = () => performance.now()
const fmt = (ms: number) => `${ms.toFixed(1).padStart(7)} ms`
const row = (label: string, ms: number, result: string) =>
  console.log(`${label.padEnd(44)}${fmt(ms)}  -> ${result}`)
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** A port on 127.0.0.1 that refuses connections: bound on port 0, noted, closed. */
const refusedPort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** ms until a plain TCP connect to the port fails (and with which code). */
const rawConnect = (port: number) =>
  Effect.async<{ readonly ms: number; readonly code: string }>((resume) => {
    const t0 = now()
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed({ ms: now() - t0, code: "connected" }))
    })
    socket.once("error", (err: NodeJS.ErrnoException) => {
      socket.destroy()
      resume(Effect.succeed({ ms: now() - t0, code: err.code ?? err.message }))
    })
  })

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.timed(effect), ([elapsed, value]) => ({ value, ms: Duration.toMillis(elapsed) }))

// --- part 1: RunnerHealth.layerPing against a refused port -----------------------------------------

// what NodeClusterSocket.layer builds for `runnerHealth: "ping"` (the default), plus the Runners
// service it pings through so one bare ping can be timed too
const healthLayer = RunnerHealth.layerPing.pipe(
  Layer.provideMerge(Runners.layerRpc),
  Layer.provide(NodeClusterSocket.layerClientProtocol),
  Layer.provide(MessageStorage.layerNoop),
  Layer.provide(ShardingConfig.layer()),
  Layer.provide(RpcSerialization.layerMsgPack)
)

// a live stock runner server: the Runners RPC handlers (they answer Ping) on a socket server bound
// to 127.0.0.1:0, over a client-only Sharding with in-memory runner storage
const liveServerLayer = RunnerServer.layer.pipe(
  Layer.provide(RpcServer.layerProtocolSocketServer),
  Layer.provideMerge(NodeSocketServer.layer({ host: "127.0.0.1", port: 0 })),
  Layer.provide(RunnerServer.layerClientOnly),
  Layer.provide(NodeClusterSocket.layerClientProtocol),
  Layer.provide(MessageStorage.layerNoop),
  Layer.provide(RunnerStorage.layerMemory),
  Layer.provide(ShardingConfig.layer()),
  Layer.provide(RpcSerialization.layerMsgPack)
)

const part1 = Effect.gen(function* () {
  const ctx = yield* Layer.build(healthLayer)
  const health = Context.get(ctx, RunnerHealth.RunnerHealth)
  const runners = Context.get(ctx, Runners.Runners)
  const port = yield* refusedPort
  const dead = RunnerAddress.make("127.0.0.1", port)
  console.log(`part 1: RunnerHealth.layerPing (Runners.layerRpc + NodeClusterSocket socket protocol)`)
  console.log(`refused port: 127.0.0.1:${port}`)

  const deadTimes: Array<number> = []
  for (let i = 1; i <= tries; i++) {
    const { value, ms } = yield* timed(health.isAlive(dead))
    deadTimes.push(ms)
    row(`  isAlive(refused port) try ${i}/${tries}`, ms, String(value))
  }
  const ping = yield* timed(Effect.exit(runners.ping(dead)))
  row("  one Runners.ping(refused port)", ping.ms, Exit.isSuccess(ping.value) ? "ok" : "RunnerUnavailable")
  const rawTimes: Array<number> = []
  for (let i = 1; i <= tries; i++) {
    const raw = yield* rawConnect(port)
    rawTimes.push(raw.ms)
    row(`  raw net.connect(refused port) try ${i}/${tries}`, raw.ms, raw.code)
  }

  const liveTimes = yield* Effect.scoped(
    Effect.gen(function* () {
      const serverCtx = yield* Layer.build(liveServerLayer)
      const address = Context.get(serverCtx, SocketServer.SocketServer).address
      if (address._tag !== "TcpAddress") return yield* Effect.die("expected a TCP address")
      const live = RunnerAddress.make("127.0.0.1", address.port)
      // the server's accept loop starts in the background; wait until it answers once
      yield* health.isAlive(live).pipe(Effect.repeat({ until: (alive) => alive, times: 20 }))
      const out: Array<number> = []
      for (let i = 1; i <= tries; i++) {
        const { value, ms } = yield* timed(health.isAlive(live))
        out.push(ms)
        row(`  isAlive(live stock runner :${address.port}) try ${i}/${tries}`, ms, String(value))
      }
      return out
    })
  )
  console.log(
    `=> a refused port is "dead" after ${fmt(median(deadTimes)).trim()} (median), although one ping ` +
      `fails in ${fmt(ping.ms).trim()} and the kernel refuses in ${fmt(median(rawTimes)).trim()}; ` +
      `a live runner answers in ${fmt(median(liveTimes)).trim()}`
  )
}).pipe(Effect.scoped)

// --- part 2: the fixed 1 s sleep in the shard acquisition loop ---------------------------------------

const part2 = Effect.gen(function* () {
  const prefix = `fob${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`
  const sqlCtx = yield* Layer.build(
    MysqlClient.layer({ host: "127.0.0.1", port: 3306, username: "root", database: "test" })
  )
  const sql = Context.get(sqlCtx, SqlClient.SqlClient)
  const shardsPerGroup = 8
  const config = ShardingConfig.layer({
    shardsPerGroup,
    // registered in the runner table only; Runners.layerNoop never dials it
    runnerAddress: Option.some(RunnerAddress.make("127.0.0.1", 1))
  })
  const shardingLayer = Sharding.layer.pipe(
    Layer.provide(Runners.layerNoop),
    Layer.provide(RunnerHealth.layerNoop),
    Layer.provide(SqlRunnerStorage.layerWith({ prefix })),
    Layer.provide(MessageStorage.layerNoop),
    Layer.provide(config),
    Layer.provide(Layer.succeedContext(sqlCtx)),
    Layer.orDie
  )
  const shard1 = ShardId.make("default", 1)
  const shard2 = ShardId.make("default", 2)
  const lockName = `${prefix}.${shard1.toString()}`
  const poll = (cond: () => boolean, timeoutMs: number) =>
    Effect.gen(function* () {
      const deadline = now() + timeoutMs
      while (!cond()) {
        if (now() > deadline) return yield* Effect.die(`timed out after ${timeoutMs} ms`)
        yield* Effect.sleep(2)
      }
      return now()
    })

  console.log(
    `\npart 2: stock Sharding + SqlRunnerStorage (MariaDB, advisory locks, prefix ${prefix}, ` +
      `${shardsPerGroup} shards, shardLockRefreshInterval ` +
      `${Duration.format(ShardingConfig.defaults.shardLockRefreshInterval)})`
  )
  console.log(
    `  another connection holds GET_LOCK('${lockName}'), releases it <hold> ms after the runner's first acquire`
  )
  const run = (hold: number) =>
    Effect.gen(function* () {
      const holder = yield* sql.reserve
      const got = yield* holder.executeValues(`SELECT GET_LOCK('${lockName}', 5)`, [])
      if (Number(got[0]?.[0]) !== 1) return yield* Effect.die(`could not take ${lockName}`)
      const tStart = now()
      const scope = yield* Scope.make()
      const ctx = yield* Layer.buildWithScope(shardingLayer, scope)
      const sharding = Context.get(ctx, Sharding.Sharding)
      const result = yield* Effect.gen(function* () {
        const tFirst = yield* poll(() => sharding.hasShardId(shard2), 10_000)
        if (sharding.hasShardId(shard1)) return yield* Effect.die("shard 1 acquired while held")
        yield* Effect.sleep(hold)
        yield* holder.executeRaw(`SELECT RELEASE_LOCK('${lockName}')`, [])
        const tRel = now()
        const tAcq = yield* poll(() => sharding.hasShardId(shard1), 10_000)
        return { first: tFirst - tStart, afterRelease: tAcq - tRel, afterFirst: tAcq - tFirst }
      }).pipe(Effect.ensuring(Scope.close(scope, Exit.void)))
      console.log(
        `  hold ${String(hold).padStart(4)} ms: first acquire at ${fmt(result.first)} after start; ` +
          `shard 1 acquired ${fmt(result.afterRelease)} after release, ${fmt(result.afterFirst)} after first acquire`
      )
      return result
    }).pipe(Effect.scoped)

  const results = yield* Effect.forEach(holds, run).pipe(
    Effect.ensuring(
      Effect.forEach(["runners", "locks"], (t) => sql.unsafe(`DROP TABLE IF EXISTS ${prefix}_${t}`), {
        discard: true
      }).pipe(Effect.orDie)
    )
  )
  console.log(
    `=> after the lock is free the runner takes the shard only on its next loop turn: ` +
      `${results.map((r) => r.afterFirst.toFixed(0)).join(" / ")} ms after its first attempt ` +
      `(Effect.sleep(1000) in the acquisition loop), i.e. 1000 - hold after the release`
  )
}).pipe(Effect.scoped)

const main = Effect.gen(function* () {
  yield* part1
  if (!skipLocks) yield* part2
}).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))

Effect.runPromise(main).then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  }
)
