/**
 * W1–W4 load client: opens client connections to one server and measures it. The server speaks
 * firefly frames (hotaru's net node, the raw baseline: `--proto firefly`) or Pinus's protocol
 * (`--proto pinus`, the bench's Pinus app).
 *
 *   node --import tsx bench/load/load.ts --workload w1|w3|w4 --port P [--proto firefly|pinus]
 *     [--label NAME] [--duration 10] [--warmup 2] [--body 32]
 *     w1: --op echo|forward --conns C       C connections, closed loop: one request outstanding
 *                                           each, the next sent when its reply arrives
 *     w3: --conns N --window 16             N connections subscribed; connection 0 triggers
 *                                           fan-outs, at most `window` rounds in flight (a round
 *                                           is done when all N received its push)
 *     w4: --conns N --hold 15 --server-pid PID[,PID]
 *                                           N idle connections held open; server RSS delta ÷ N
 *
 * Prints one `RESULT key=value …` line (the same keys as the shared peers harness's client, so
 * runs can be compared with it), and appends it as JSON to `--out FILE` if given.
 */
import * as Fs from "node:fs"
import { performance } from "node:perf_hooks"
import { numberArg, parseArgs } from "../args.js"
import type { Conn, ConnHooks, Protocol } from "./conn.js"
import { firefly } from "./fireflyConn.js"
import { pinus } from "./pinusConn.js"
import { resultLine, Samples } from "./stats.js"

const args = parseArgs(process.argv.slice(2))
const protocols: Record<string, Protocol> = { firefly, pinus }
const protoName = args.get("proto") ?? "firefly"
const proto = protocols[protoName]
if (proto === undefined) throw new Error(`--proto must be firefly or pinus, got ${protoName}`)
const host = "127.0.0.1"
const port = numberArg(args, "port", 4010)
const workload = args.get("workload") ?? "w1"
const label = args.get("label") ?? proto.name
const warmupMs = numberArg(args, "warmup", 2) * 1000
const durationMs = numberArg(args, "duration", 10) * 1000
const body = proto.makeBody(numberArg(args, "body", 32))

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const emit = (fields: Record<string, string | number>) => {
  process.stdout.write(`${resultLine(fields)}\n`)
  const out = args.get("out")
  if (out !== undefined) {
    Fs.appendFileSync(out, `${JSON.stringify({ ts: new Date().toISOString(), ...fields })}\n`)
  }
}

/** Open `n` connections, at most `parallel` connecting at once; fails if any does not connect. */
const openConns = async (
  n: number,
  hooksOf: (i: number) => ConnHooks,
  parallel = 200
): Promise<Array<Conn>> => {
  const conns: Array<Conn> = []
  let next = 0
  let failed = 0
  let firstError: Error | undefined
  const worker = async () => {
    while (next < n) {
      const i = next++
      const conn = proto.connect(host, port, hooksOf(i))
      conns[i] = conn
      const error = await new Promise<Error | undefined>((resolve) => conn.ready(resolve))
      if (error !== undefined) {
        failed++
        firstError ??= error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, worker))
  if (failed > 0) throw new Error(`${failed}/${n} connections failed (${firstError?.message})`)
  return conns
}

const rssOf = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  return m === null ? Number.NaN : Number(m[1]) * 1024
}

const w1 = async () => {
  const op = args.get("op") ?? "echo"
  if (op !== "echo" && op !== "forward") throw new Error(`--op must be echo or forward, got ${op}`)
  const c = numberArg(args, "conns", 1)
  let closes = 0
  const conns = await openConns(c, () => ({ onClose: () => closes++ }))
  const samples = new Samples()
  let measuring = false
  let stopped = false
  let errors = 0
  const loop = (conn: Conn) => {
    if (stopped) return
    const t0 = performance.now()
    conn.request(op, body, (error) => {
      if (error !== undefined) {
        errors++
        return
      }
      if (measuring) samples.add(performance.now() - t0)
      loop(conn)
    })
  }
  for (const conn of conns) loop(conn)
  await sleep(warmupMs)
  measuring = true
  const t0 = performance.now()
  await sleep(durationMs)
  measuring = false
  const secs = (performance.now() - t0) / 1000
  stopped = true
  const { p50, p99 } = samples.percentiles()
  emit({
    workload: "w1",
    server: label,
    op,
    conns: c,
    secs: secs.toFixed(2),
    msgs_per_s: Math.round(samples.count / secs),
    p50_ms: p50.toFixed(3),
    p99_ms: p99.toFixed(3),
    errors: errors + closes
  })
  for (const conn of conns) conn.close()
}

const w3 = async () => {
  const n = numberArg(args, "conns", 1000)
  const window = numberArg(args, "window", 16)
  const ring = 1 << 12
  /** hits[r % ring]: connections that received round r (TCP keeps order: the k-th push is round k). */
  const hits = new Uint32Array(ring)
  const received = new Uint32Array(n)
  let sent = 0
  let done = 0
  let delivered = 0
  let measuring = false
  let stopped = false
  let closes = 0
  let trigger: Conn | undefined
  const pump = () => {
    while (!stopped && trigger !== undefined && sent - done < window) {
      sent++
      trigger.notify("fanout", body)
    }
  }
  const conns = await openConns(n, (i) => ({
    onClose: () => closes++,
    onPush: () => {
      const round = received[i]!++
      if (measuring) delivered++
      if (++hits[round % ring]! === n) {
        hits[round % ring] = 0
        done++
        pump()
      }
    }
  }))
  await Promise.all(
    conns.map(
      (conn) =>
        new Promise<void>((resolve, reject) =>
          conn.subscribe((e) => (e === undefined ? resolve() : reject(e)))
        )
    )
  )
  trigger = conns[0]
  pump()
  await sleep(warmupMs)
  measuring = true
  const done0 = done
  const t0 = performance.now()
  // a whole second with no completed round means lost pushes
  let stalls = 0
  let last = done
  const end = t0 + durationMs
  while (performance.now() < end) {
    const step = Math.min(1000, end - performance.now())
    await sleep(step)
    if (step >= 1000 && done === last) stalls++
    last = done
  }
  measuring = false
  const secs = (performance.now() - t0) / 1000
  stopped = true
  if (stalls > 0) console.error(`w3: no round completed during ${stalls} 1-s interval(s) (lost pushes?)`)
  emit({
    workload: "w3",
    server: label,
    conns: n,
    window,
    secs: secs.toFixed(2),
    deliveries_per_s: Math.round(delivered / secs),
    rounds_per_s: Math.round((done - done0) / secs),
    errors: closes + stalls
  })
  for (const conn of conns) conn.close()
}

const w4 = async () => {
  const n = numberArg(args, "conns", 10_000)
  const holdMs = numberArg(args, "hold", 15) * 1000
  const pids = (args.get("server-pid") ?? "")
    .split(",")
    .filter((s) => s !== "")
    .map(Number)
  if (pids.length === 0) throw new Error("--server-pid is required for w4")
  const rss = () => pids.reduce((sum, pid) => sum + rssOf(pid), 0)
  await sleep(1000)
  const before = rss()
  let closes = 0
  const t0 = performance.now()
  const conns = await openConns(n, () => ({ onClose: () => closes++ }))
  const openSecs = (performance.now() - t0) / 1000
  const afterOpen = rss()
  await sleep(holdMs)
  const after = rss()
  emit({
    workload: "w4",
    server: label,
    conns: n,
    open_s: openSecs.toFixed(2),
    hold_s: holdMs / 1000,
    rss_before_mb: (before / 2 ** 20).toFixed(1),
    rss_after_mb: (after / 2 ** 20).toFixed(1),
    bytes_per_conn: Math.round((after - before) / n),
    bytes_per_conn_at_open: Math.round((afterOpen - before) / n),
    closed_during_hold: closes
  })
  for (const conn of conns) conn.close()
}

const workloads: Record<string, () => Promise<void>> = { w1, w3, w4 }
const run = workloads[workload]
if (run === undefined) throw new Error(`--workload must be w1, w3 or w4, got ${workload}`)
run().then(
  () => setTimeout(() => process.exit(0), 200),
  (e: unknown) => {
    console.error(`load client error: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(1)
  }
)
