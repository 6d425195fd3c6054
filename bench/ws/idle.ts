/**
 * WS3, idle memory per WebSocket connection: the server's memory (its answer to `memory`, after
 * two full collections) through a probe connection, then `conns` connections opened and each
 * answered once (so the server holds its state), held `--hold` seconds, the memory again; the
 * deltas ÷ `conns`. `heap` is V8's heap in use plus memory outside it (`external`: buffers);
 * `rss` the whole resident set (native allocations too, and pages the heap keeps after a
 * collection).
 */
import { numberArg } from "../args.js"
import { ECHO, MEMORY } from "./wire.js"
import { sleep, type Workload } from "./workload.js"
import { openMany, WsConn } from "./wsConn.js"

interface Memory {
  readonly rss: number
  readonly heapUsed: number
  readonly external: number
  readonly gc: boolean
}

const memoryOf = async (probe: WsConn): Promise<Memory> => {
  const m = JSON.parse((await probe.request(MEMORY, Buffer.alloc(0))).toString("utf8")) as Memory
  if (!m.gc) throw new Error("the server runs without --expose-gc: its memory is not settled")
  return m
}

export const idle: Workload = async (o) => {
  const holdMs = numberArg(o.args, "hold", 2) * 1000
  const probe = new WsConn(o.url)
  await new Promise<void>((resolve, reject) => probe.ready((e) => (e === undefined ? resolve() : reject(e))))
  // the probe's own connection settles first (the warm-up)
  await sleep(o.warmupMs)
  const before = await memoryOf(probe)
  let closes = 0
  const conns = await openMany(o.url, o.conns, () => ({ onClose: () => closes++ }))
  await Promise.all(conns.map((conn) => conn.request(ECHO, Buffer.alloc(0))))
  await sleep(holdMs)
  const after = await memoryOf(probe)
  for (const conn of [probe, ...conns]) conn.close()
  const per = (f: (m: Memory) => number) => Math.round((f(after) - f(before)) / o.conns)
  return {
    workload: "ws3",
    server: o.label,
    conns: o.conns,
    hold_s: holdMs / 1000,
    rss_before_mb: (before.rss / 2 ** 20).toFixed(1),
    rss_after_mb: (after.rss / 2 ** 20).toFixed(1),
    heap_before_mb: ((before.heapUsed + before.external) / 2 ** 20).toFixed(1),
    heap_after_mb: ((after.heapUsed + after.external) / 2 ** 20).toFixed(1),
    heap_bytes_per_conn: per((m) => m.heapUsed + m.external),
    rss_bytes_per_conn: per((m) => m.rss),
    closed_during_hold: closes
  }
}
