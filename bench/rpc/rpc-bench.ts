/**
 * Inter-node RPC micro-benchmark (issue 6, W5): calls/s between two processes over TCP on
 * 127.0.0.1, closed loop (each finished call starts the next), 1 and 100 calls in flight on one
 * connection, 32-byte echo (`{ body: Uint8Array(32) }` → `Uint8Array`).
 *
 *   node --import tsx bench/rpc/rpc-bench.ts [--kinds hotaru,stock,raw] [--inflight 1,100]
 *     [--runs 3] [--seconds 3] [--warmup 1.5] [--handler succeed|gen|async]
 *
 * - hotaru: a `Root` node ("root", `Transport.layerTcp`) serves the echo group with
 *   `Root.serve`; a `Remote` node ("caller") calls it through `remote.parent("root", Echo)`.
 * - stock:  `RpcServer.layerProtocolSocketServer` + `RpcClient.layerProtocolSocket` +
 *   `RpcSerialization.layerMsgPack`, default settings (spans on, Nagle on as `NodeSocketServer`
 *   ships it).
 * - raw:    plain `node:net`, pipelined `u32 length | u32 id | body` frames, one write per
 *   received chunk on both sides, Nagle off.
 *
 * Every kind gets a fresh server process and a fresh client process per in-flight level; the
 * client warms up, then measures `runs` consecutive windows and the parent prints every run, the
 * median, and the CPU time (user + system) per call of each process over all the windows: on a
 * shared, loaded machine calls/s is noisy, CPU µs per call much less so. `RPC_BENCH_PROF=<dir>` adds `--cpu-prof --cpu-prof-dir=<dir>` to both processes.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import * as Readline from "node:readline"
import * as SocketServer from "@effect/platform/SocketServer"
import { NodeSocket, NodeSocketServer } from "@effect/platform-node"
import { Rpc, RpcClient, RpcGroup, RpcSerialization, RpcServer } from "@effect/rpc"
import { Duration, Effect, Layer, Schema } from "effect"
import * as Remote from "../../src/Remote.js"
import * as Root from "../../src/Root.js"
import * as Transport from "../../src/Transport.js"

class Echo extends RpcGroup.make(
  Rpc.make("echo", { payload: { body: Schema.Uint8ArrayFromSelf }, success: Schema.Uint8ArrayFromSelf })
) {}

const host = "127.0.0.1"
const body: Uint8Array = Buffer.alloc(32, 0x61)
/**
 * The echo handler (`--handler`, default `succeed`): `succeed` returns `Effect.succeed(body)`;
 * `gen` an `Effect.gen` that completes synchronously; `async` one that yields to the scheduler
 * once (`Effect.yieldNow`) before answering, so the handler's fiber outlives the call frame.
 */
type HandlerKind = "succeed" | "gen" | "async"
const handlerKind = (process.env.RPC_BENCH_HANDLER ?? "succeed") as HandlerKind
const EchoHandlers = Echo.toLayer({
  echo: ({ body }) =>
    handlerKind === "succeed"
      ? Effect.succeed(body)
      : handlerKind === "gen"
        ? Effect.gen(function* () {
            return yield* Effect.succeed(body)
          })
        : Effect.as(Effect.yieldNow(), body)
})

type Kind = "hotaru" | "stock" | "raw"

const flag = (args: ReadonlyArray<string>, name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && i + 1 < args.length ? args[i + 1]! : fallback
}

// ---------------------------------------------------------------------------
// Servers (print `PORT n`, run until killed)
// ---------------------------------------------------------------------------

const ready = (port: number) => Effect.sync(() => process.stdout.write(`PORT ${port}\n`))

const serveHotaru = Effect.gen(function* () {
  const root = yield* Root.Root
  yield* ready(root.address.port)
  return yield* Effect.never
}).pipe(
  Effect.provide(
    Root.serve(Echo, EchoHandlers).pipe(
      Layer.provideMerge(Root.layer({ name: "root", host, port: 0 })),
      Layer.provide(Transport.layerTcp())
    )
  )
)

const serveStock = Effect.gen(function* () {
  const server = yield* SocketServer.SocketServer
  yield* ready(server.address._tag === "TcpAddress" ? server.address.port : 0)
  return yield* Effect.never
}).pipe(
  Effect.provide(
    RpcServer.layer(Echo).pipe(
      Layer.provide(EchoHandlers),
      Layer.provide(RpcServer.layerProtocolSocketServer),
      Layer.provide(RpcSerialization.layerMsgPack),
      Layer.provideMerge(NodeSocketServer.layer({ host, port: 0 }))
    )
  )
)

const serveRaw = Effect.async<never>(() => {
  const server = Net.createServer({ noDelay: true }, (socket) => {
    let pending: Buffer | undefined
    socket.on("error", () => {})
    socket.on("data", (chunk: Buffer) => {
      const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk])
      pending = undefined
      let off = 0
      while (buf.length - off >= 4) {
        const total = 4 + buf.readUInt32BE(off)
        if (buf.length - off < total) break
        off += total
      }
      // an echo server: every complete frame goes back as it came, in one write
      if (off > 0) socket.write(off === buf.length ? buf : buf.subarray(0, off))
      if (off < buf.length) pending = Buffer.from(buf.subarray(off))
    })
  })
  server.listen(0, host, () => {
    const address = server.address()
    process.stdout.write(`PORT ${typeof address === "object" && address !== null ? address.port : 0}\n`)
  })
})

// ---------------------------------------------------------------------------
// Clients (print `START` when the measured windows begin, then one `RESULT {…}` line)
// ---------------------------------------------------------------------------

/** What a client reports: calls/s per window, calls and own CPU time over all windows. */
interface Outcome {
  readonly rates: Array<number>
  readonly calls: number
  readonly cpuMicros: number
}

/** Bookkeeping of the measured windows around a call counter. */
const windows = (count: () => number) => {
  let calls0 = 0
  let cpu0 = process.cpuUsage()
  let c0 = 0
  let t0 = 0
  const rates: Array<number> = []
  return {
    begin: () => {
      process.stdout.write("START\n")
      calls0 = count()
      cpu0 = process.cpuUsage()
    },
    open: () => {
      c0 = count()
      t0 = performance.now()
    },
    close: () => rates.push(((count() - c0) * 1000) / (performance.now() - t0)),
    done: (): Outcome => {
      const cpu = process.cpuUsage(cpu0)
      return { rates, calls: count() - calls0, cpuMicros: cpu.user + cpu.system }
    }
  }
}

interface Plan {
  readonly port: number
  readonly inflight: number
  readonly runs: number
  readonly windowMs: number
  readonly warmupMs: number
}

/** `inflight` closed loops of `call`; warm-up, then `runs` windows. Returns calls/s per window. */
const measureEffect = <E>(plan: Plan, call: Effect.Effect<unknown, E>) =>
  Effect.gen(function* () {
    let count = 0
    let stopped = false
    const worker = Effect.gen(function* () {
      while (!stopped) {
        yield* call
        count++
      }
    })
    yield* Effect.forkScoped(
      Effect.forEach(Array.from({ length: plan.inflight }), () => worker, {
        concurrency: "unbounded",
        discard: true
      })
    )
    yield* Effect.sleep(Duration.millis(plan.warmupMs))
    const measured = windows(() => count)
    measured.begin()
    for (let r = 0; r < plan.runs; r++) {
      measured.open()
      yield* Effect.sleep(Duration.millis(plan.windowMs))
      measured.close()
    }
    stopped = true
    return measured.done()
  }).pipe(Effect.scoped)

const callHotaru = (plan: Plan) =>
  Effect.gen(function* () {
    const remote = yield* Remote.Remote
    yield* remote.awaitConnected("root").pipe(Effect.timeout("15 seconds"))
    const root = yield* remote.parent("root", Echo)
    return yield* measureEffect(plan, root.echo({ body }))
  }).pipe(
    Effect.provide(
      Remote.layer({ name: "caller", parents: [{ name: "root", host, port: plan.port }] }).pipe(
        Layer.provide(Transport.layerTcp())
      )
    )
  )

const callStock = (plan: Plan) =>
  Effect.gen(function* () {
    const client = yield* RpcClient.make(Echo)
    return yield* measureEffect(plan, client.echo({ body }))
  }).pipe(
    Effect.scoped,
    Effect.provide(
      RpcClient.layerProtocolSocket().pipe(
        Layer.provide(NodeSocket.layerNet({ host, port: plan.port })),
        Layer.provide(RpcSerialization.layerMsgPack)
      )
    )
  )

const callRaw = (plan: Plan) =>
  Effect.async<Outcome>((resume) => {
    let count = 0
    const measured = windows(() => count)
    const frameOf = (id: number) => {
      const f = Buffer.allocUnsafe(8 + body.length)
      f.writeUInt32BE(4 + body.length, 0)
      f.writeUInt32BE(id, 4)
      f.set(body, 8)
      return f
    }
    const socket = Net.connect({ host, port: plan.port, noDelay: true })
    let pending: Buffer | undefined
    socket.on("error", (error) => resume(Effect.die(error)))
    socket.on("data", (chunk: Buffer) => {
      const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk])
      pending = undefined
      let off = 0
      const out: Array<Buffer> = []
      while (buf.length - off >= 4) {
        const total = 4 + buf.readUInt32BE(off)
        if (buf.length - off < total) break
        out.push(frameOf(buf.readUInt32BE(off + 4)))
        count++
        off += total
      }
      if (out.length > 0) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out))
      if (off < buf.length) pending = Buffer.from(buf.subarray(off))
    })
    socket.on("connect", () => {
      const first: Array<Buffer> = []
      for (let i = 0; i < plan.inflight; i++) first.push(frameOf(i))
      socket.write(Buffer.concat(first))
      let left = plan.runs
      const window = () => {
        measured.open()
        setTimeout(() => {
          measured.close()
          if (--left > 0) return window()
          const outcome = measured.done()
          socket.destroy()
          resume(Effect.succeed(outcome))
        }, plan.windowMs)
      }
      setTimeout(() => {
        measured.begin()
        window()
      }, plan.warmupMs)
    })
  })

const clients: Record<Kind, (plan: Plan) => Effect.Effect<Outcome, unknown>> = {
  hotaru: callHotaru,
  stock: callStock,
  raw: callRaw
}
const servers: Record<Kind, Effect.Effect<unknown, unknown>> = {
  hotaru: serveHotaru,
  stock: serveStock,
  raw: serveRaw
}

// ---------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------

const self = new URL(import.meta.url).pathname

const spawn = (args: ReadonlyArray<string>) => {
  const prof = process.env.RPC_BENCH_PROF
  const nodeArgs = ["--import", "tsx", ...(prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : []), self]
  return ChildProcess.spawn(process.execPath, [...nodeArgs, ...args], {
    stdio: ["ignore", "pipe", "inherit"]
  })
}

/** Waits for stdout lines of `child` by prefix: `next(prefix)` yields the rest of the next such line. */
const linesOf = (child: ChildProcess.ChildProcess) => {
  const waiting = new Map<string, (rest: string) => void>()
  const seen = new Map<string, string>()
  Readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    const prefix = line.split(" ", 1)[0]!
    const rest = line.slice(prefix.length).trim()
    const waiter = waiting.get(prefix)
    if (waiter === undefined) seen.set(prefix, rest)
    else {
      waiting.delete(prefix)
      waiter(rest)
    }
  })
  return (prefix: string, timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const early = seen.get(prefix)
      if (early !== undefined) {
        seen.delete(prefix)
        return resolve(early)
      }
      const timer = setTimeout(() => reject(new Error(`no ${prefix} line within ${timeoutMs} ms`)), timeoutMs)
      waiting.set(prefix, (rest) => {
        clearTimeout(timer)
        resolve(rest)
      })
      child.once("exit", (code) => reject(new Error(`process exited (${code}) before ${prefix}`)))
    })
}

/** CPU time (user + system) of process `pid` so far, in microseconds (Linux /proc). */
const cpuOf = (pid: number | undefined): number => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // fields[11], fields[12]: utime, stime in clock ticks (USER_HZ = 100 on Linux)
    return (Number(fields[11]) + Number(fields[12])) * 10_000
  } catch {
    return Number.NaN
  }
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const orchestrate = async (args: ReadonlyArray<string>) => {
  const kinds = flag(args, "kinds", "hotaru,stock,raw").split(",") as Array<Kind>
  const levels = flag(args, "inflight", "1,100").split(",").map(Number)
  const runs = flag(args, "runs", "3")
  const seconds = Number(flag(args, "seconds", "3"))
  const warmup = Number(flag(args, "warmup", "1.5"))
  // children read the handler kind from the environment
  process.env.RPC_BENCH_HANDLER = flag(args, "handler", "succeed")
  console.log(
    `rpc-bench: ${runs} runs × ${seconds}s after ${warmup}s warm-up, 32-byte echo, TCP 127.0.0.1, ` +
      `handler ${process.env.RPC_BENCH_HANDLER}`
  )
  for (const kind of kinds) {
    for (const inflight of levels) {
      const server = spawn(["serve", kind])
      try {
        const port = await linesOf(server)("PORT", 20_000)
        const client = spawn([
          "call",
          kind,
          port,
          String(inflight),
          runs,
          String(seconds * 1000),
          String(warmup * 1000)
        ])
        const next = linesOf(client)
        const timeout = (warmup + seconds * Number(runs)) * 1000 + 30_000
        await next("START", timeout)
        const server0 = cpuOf(server.pid)
        const outcome = JSON.parse(await next("RESULT", timeout)) as Outcome
        const serverMicros = cpuOf(server.pid) - server0
        const perCall = (micros: number) => (micros / outcome.calls).toFixed(1).padStart(5)
        console.log(
          `${kind.padEnd(7)} inflight=${String(inflight).padEnd(4)} median ${Math.round(median(outcome.rates))
            .toString()
            .padStart(7)} calls/s   runs [${outcome.rates.map((r) => Math.round(r)).join(", ")}]   ` +
            `CPU µs/call: client ${perCall(outcome.cpuMicros)}, server ${perCall(serverMicros)}`
        )
        await new Promise<void>((resolve) => {
          if (client.exitCode !== null) return resolve()
          client.once("exit", () => resolve())
        })
      } finally {
        // SIGINT lets --cpu-prof write its profile
        server.kill("SIGINT")
        await new Promise<void>((resolve) => {
          if (server.exitCode !== null || server.signalCode !== null) return resolve()
          const timer = setTimeout(() => {
            server.kill("SIGKILL")
            resolve()
          }, 5_000)
          server.once("exit", () => {
            clearTimeout(timer)
            resolve()
          })
        })
      }
    }
  }
}

const argv = process.argv.slice(2)
if (argv[0] === "serve") {
  const kind = argv[1] as Kind
  // exit cleanly on SIGINT so a --cpu-prof profile gets written
  process.on("SIGINT", () => process.exit(0))
  Effect.runPromise(servers[kind] as Effect.Effect<unknown, unknown>).catch((error) => {
    console.error(error)
    process.exit(1)
  })
} else if (argv[0] === "call") {
  const [, kind, port, inflight, runs, windowMs, warmupMs] = argv
  const plan: Plan = {
    port: Number(port),
    inflight: Number(inflight),
    runs: Number(runs),
    windowMs: Number(windowMs),
    warmupMs: Number(warmupMs)
  }
  Effect.runPromise(clients[kind as Kind](plan)).then(
    (outcome) => {
      process.stdout.write(`RESULT ${JSON.stringify(outcome)}\n`)
      process.exit(0)
    },
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
} else {
  orchestrate(argv).catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
