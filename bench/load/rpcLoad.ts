/**
 * W5 load: calls/s between two nodes, K calls in flight on one link, closed loop (each finished
 * call starts the next), 32-byte payload.
 *   node --import tsx bench/load/rpcLoad.ts --target hotaru|stock|raw --port P --inflight K
 *     [--duration 10] [--warmup 2] [--label NAME]
 * - hotaru: this process is a hotaru node (`Remote` "caller") linked to the backend `Root`,
 *   calling `EchoRpc.echo` through `remote.parent`.
 * - stock:  a stock `@effect/rpc` client (socket protocol, msgpack, default settings; `--nodelay on`
 *           sets TCP_NODELAY on its socket).
 * - raw:    plain `net`, pipelined `length | id | body` frames (see servers/rawRpc.ts).
 * Prints one `RESULT workload=w5 …` line.
 */
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import { NodeRuntime, NodeSocket } from "@effect/platform-node"
import { RpcClient, RpcSerialization } from "@effect/rpc"
import { Duration, Effect, Exit, Fiber, Layer } from "effect"
import { BACKEND, EchoRpc } from "../app/rpc.js"
import { boolArg, numberArg, parseArgs } from "../args.js"
import { resultLine, Samples } from "./stats.js"

const args = parseArgs(process.argv.slice(2))
const target = args.get("target") ?? "hotaru"
const port = numberArg(args, "port", 0)
const inflight = numberArg(args, "inflight", 1)
const durationMs = numberArg(args, "duration", 10) * 1000
const warmupMs = numberArg(args, "warmup", 2) * 1000
const label = args.get("label") ?? target
const host = "127.0.0.1"
const body: Uint8Array = Buffer.alloc(32, 0x61)

interface Outcome {
  readonly count: number
  readonly secs: number
  readonly samples: Samples
  readonly errors: number
}

const report = (o: Outcome) => {
  const { p50, p99 } = o.samples.percentiles()
  process.stdout.write(
    `${resultLine({
      workload: "w5",
      server: label,
      inflight,
      secs: o.secs.toFixed(2),
      calls_per_s: Math.round(o.count / o.secs),
      p50_ms: p50.toFixed(3),
      p99_ms: p99.toFixed(3),
      errors: o.errors
    })}\n`
  )
}

/** K closed loops of `call`, warm-up, then the measured window. */
const measureEffect = <E>(call: Effect.Effect<unknown, E>) =>
  Effect.gen(function* () {
    const samples = new Samples()
    let measuring = false
    let stopped = false
    let errors = 0
    const worker = Effect.gen(function* () {
      while (!stopped) {
        const t0 = performance.now()
        const exit = yield* Effect.exit(call)
        if (Exit.isFailure(exit)) {
          errors++
          yield* Effect.logError("call failed", exit.cause)
          return
        }
        if (measuring) samples.add(performance.now() - t0)
      }
    })
    const workers = yield* Effect.fork(
      Effect.forEach(Array.from({ length: inflight }), () => worker, {
        concurrency: "unbounded",
        discard: true
      })
    )
    yield* Effect.sleep(Duration.millis(warmupMs))
    measuring = true
    const t0 = performance.now()
    yield* Effect.sleep(Duration.millis(durationMs))
    measuring = false
    const secs = (performance.now() - t0) / 1000
    stopped = true
    yield* Fiber.join(workers).pipe(Effect.timeout("5 seconds"), Effect.ignore)
    return { count: samples.count, secs, samples, errors }
  })

// hotaru is loaded only for this target (the stock and raw processes start faster without it)
const hotaru = Effect.flatMap(
  Effect.promise(() => import("hotaru-rt")),
  ({ Remote, Transport }) =>
    Effect.gen(function* () {
      const remote = yield* Remote.Remote
      yield* remote.awaitConnected(BACKEND).pipe(Effect.timeout("15 seconds"))
      const backend = yield* remote.parent(BACKEND, EchoRpc)
      return yield* measureEffect(backend.echo({ body }))
    }).pipe(
      Effect.provide(
        Remote.layer({ name: "caller", parents: [{ name: BACKEND, host, port }] }).pipe(
          Layer.provide(Transport.layerTcp())
        )
      )
    )
)

const stock = Effect.gen(function* () {
  const client = yield* RpcClient.make(EchoRpc)
  return yield* measureEffect(client.echo({ body }))
}).pipe(
  Effect.scoped,
  Effect.provide(
    RpcClient.layerProtocolSocket().pipe(
      Layer.provide(
        NodeSocket.layerNet({ host, port, ...(boolArg(args, "nodelay", false) ? { noDelay: true } : {}) })
      ),
      Layer.provide(RpcSerialization.layerMsgPack)
    )
  )
)

/** Plain callbacks on one socket: K requests outstanding, each reply sends the next. */
const raw = Effect.async<Outcome>((resume) => {
  const samples = new Samples()
  const sent = new Float64Array(inflight)
  let measuring = false
  let stopped = false
  let errors = 0
  const frameOf = (id: number) => {
    const f = Buffer.allocUnsafe(8 + body.length)
    f.writeUInt32BE(4 + body.length, 0)
    f.writeUInt32BE(id, 4)
    f.set(body, 8)
    return f
  }
  const sock = Net.connect({ host, port, noDelay: true })
  let pending: Buffer | undefined
  sock.on("error", () => errors++)
  sock.on("connect", () => {
    sock.cork()
    for (let i = 0; i < inflight; i++) {
      sent[i] = performance.now()
      sock.write(frameOf(i))
    }
    sock.uncork()
    setTimeout(() => {
      measuring = true
      const t0 = performance.now()
      setTimeout(() => {
        measuring = false
        stopped = true
        const secs = (performance.now() - t0) / 1000
        sock.destroy()
        resume(Effect.succeed({ count: samples.count, secs, samples, errors }))
      }, durationMs)
    }, warmupMs)
  })
  sock.on("data", (chunk: Buffer) => {
    if (stopped) return
    const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk])
    pending = undefined
    let off = 0
    sock.cork()
    while (buf.length - off >= 4) {
      const total = 4 + buf.readUInt32BE(off)
      if (buf.length - off < total) break
      const id = buf.readUInt32BE(off + 4)
      const now = performance.now()
      if (measuring) samples.add(now - sent[id]!)
      sent[id] = now
      sock.write(frameOf(id))
      off += total
    }
    sock.uncork()
    if (off < buf.length) pending = Buffer.from(buf.subarray(off))
  })
})

const program: Effect.Effect<Outcome, unknown> =
  target === "hotaru" ? hotaru : target === "stock" ? stock : raw

NodeRuntime.runMain(
  Effect.flatMap(program, (o) => Effect.sync(() => report(o))).pipe(
    Effect.timeout(Duration.millis(warmupMs + durationMs + 30_000))
  )
)
