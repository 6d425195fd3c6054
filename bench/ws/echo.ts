/**
 * WS1, WebSocket echo: `conns` connections, a closed loop on each (one echo outstanding, the next
 * sent when its reply arrives); replies per second over the measured window, their latency, and
 * the server's CPU per reply.
 */
import { performance } from "node:perf_hooks"
import { Samples } from "../load/stats.js"
import { cpuMeter } from "./serverCpu.js"
import { ECHO } from "./wire.js"
import { sleep, type Workload } from "./workload.js"
import { openMany, type WsConn } from "./wsConn.js"

export const echo: Workload = async (o) => {
  let closes = 0
  const conns = await openMany(o.url, o.conns, () => ({ onClose: () => closes++ }))
  const samples = new Samples()
  let measuring = false
  let stopped = false
  let errors = 0
  const loop = (conn: WsConn) => {
    if (stopped) return
    const t0 = performance.now()
    conn.call(ECHO, o.body, (error, body) => {
      if (error !== undefined || body?.length !== o.body.length) {
        errors++
        return
      }
      if (measuring) samples.add(performance.now() - t0)
      loop(conn)
    })
  }
  for (const conn of conns) loop(conn)
  await sleep(o.warmupMs)
  const cpu = cpuMeter(o.serverPids)
  measuring = true
  const t0 = performance.now()
  await sleep(o.durationMs)
  measuring = false
  const secs = (performance.now() - t0) / 1000
  const cpuFields = cpu(samples.count)
  stopped = true
  const { p50, p99 } = samples.percentiles()
  for (const conn of conns) conn.close()
  return {
    workload: "ws1",
    server: o.label,
    conns: o.conns,
    secs: secs.toFixed(2),
    msgs_per_s: Math.round(samples.count / secs),
    p50_ms: p50.toFixed(3),
    p99_ms: p99.toFixed(3),
    ...cpuFields,
    errors: errors + closes
  }
}
