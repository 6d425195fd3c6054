/**
 * WS2, WebSocket fan-out: `conns` connections join the audience; connection 0 sends fan-outs, at
 * most `--window` rounds in flight (a round is done once every connection received its push);
 * pushes delivered per second over the measured window, and the server's CPU per delivery.
 */
import { performance } from "node:perf_hooks"
import { numberArg } from "../args.js"
import { cpuMeter } from "./serverCpu.js"
import { FANOUT, JOIN } from "./wire.js"
import { sleep, type Workload } from "./workload.js"
import { openMany } from "./wsConn.js"

export const fanout: Workload = async (o) => {
  const n = o.conns
  const window = numberArg(o.args, "window", 16)
  const ring = 1 << 12
  /** hits[r % ring]: connections that received round r (a connection keeps order: its k-th push is round k). */
  const hits = new Uint32Array(ring)
  const received = new Uint32Array(n)
  let sent = 0
  let done = 0
  let delivered = 0
  let measuring = false
  let stopped = false
  let closes = 0
  let pump = () => {}
  const conns = await openMany(o.url, n, (i) => ({
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
  await Promise.all(conns.map((conn) => conn.request(JOIN, Buffer.alloc(0))))
  const trigger = conns[0]!
  pump = () => {
    while (!stopped && sent - done < window) {
      sent++
      trigger.send(FANOUT, o.body)
    }
  }
  pump()
  await sleep(o.warmupMs)
  const cpu = cpuMeter(o.serverPids)
  measuring = true
  const done0 = done
  const t0 = performance.now()
  // a whole second with no completed round means lost pushes
  let stalls = 0
  let last = done
  const end = t0 + o.durationMs
  while (performance.now() < end) {
    const step = Math.min(1000, end - performance.now())
    await sleep(step)
    if (step >= 1000 && done === last) stalls++
    last = done
  }
  measuring = false
  const secs = (performance.now() - t0) / 1000
  const cpuFields = cpu(delivered)
  stopped = true
  if (stalls > 0) console.error(`ws2: no round completed during ${stalls} 1-s interval(s) (lost pushes?)`)
  for (const conn of conns) conn.close()
  return {
    workload: "ws2",
    server: o.label,
    conns: n,
    window,
    secs: secs.toFixed(2),
    deliveries_per_s: Math.round(delivered / secs),
    rounds_per_s: Math.round((done - done0) / secs),
    ...cpuFields,
    errors: closes + stalls
  }
}
