/**
 * WS4, the reconnect storm: `conns` clients connect and log in (`rejoin.ts`, `--rejoin bind`),
 * then every connection drops at once and each client at once opens a new one and is its player
 * again; the time from the drop until the last client is back, and per client (p50/p99). A
 * client whose new connection fails (refused, or closed before it was back) retries after
 * `--retry-ms`, until `--timeout` seconds.
 */
import { performance } from "node:perf_hooks"
import { numberArg } from "../args.js"
import { rejoins } from "./rejoin.js"
import { sleep, type Workload } from "./workload.js"
import { openMany, WsConn } from "./wsConn.js"

const open = (url: string) =>
  new Promise<WsConn>((resolve, reject) => {
    const conn = new WsConn(url)
    conn.ready((e) => (e === undefined ? resolve(conn) : reject(e)))
  })

export const storm: Workload = async (o) => {
  const name = o.args.get("rejoin") ?? "bind"
  const rejoin = rejoins[name]
  if (rejoin === undefined)
    throw new Error(`--rejoin: unknown "${name}" (known: ${Object.keys(rejoins).join(", ")})`)
  const timeoutMs = numberArg(o.args, "timeout", 30) * 1000
  const retryMs = numberArg(o.args, "retry-ms", 50)
  const uid = (i: number) => `player${i}`
  const first = await openMany(o.url, o.conns)
  const states = await Promise.all(first.map((conn, i) => rejoin.first(conn, uid(i))))
  await sleep(o.warmupMs)
  const back = new Float64Array(o.conns).fill(Number.NaN)
  const conns: Array<WsConn | undefined> = []
  let retries = 0
  let firstError: string | undefined
  const t0 = performance.now()
  const deadline = t0 + timeoutMs
  for (const conn of first) conn.close()
  await Promise.all(
    states.map(async (state, i) => {
      while (performance.now() < deadline) {
        let conn: WsConn | undefined
        try {
          conn = await open(o.url)
          await rejoin.again(conn, uid(i), state)
          back[i] = performance.now() - t0
          conns[i] = conn
          return
        } catch (e) {
          conn?.close()
          retries++
          firstError ??= e instanceof Error ? e.message : String(e)
          await sleep(retryMs)
        }
      }
    })
  )
  const times = [...back].filter(Number.isFinite).sort((a, b) => a - b)
  const at = (p: number) =>
    times.length === 0 ? Number.NaN : times[Math.min(times.length - 1, Math.floor(times.length * p))]!
  if (firstError !== undefined) console.error(`ws4: ${retries} retries, the first: ${firstError}`)
  for (const conn of conns) conn?.close()
  const missing = o.conns - times.length
  return {
    workload: "ws4",
    server: o.label,
    conns: o.conns,
    rejoin: rejoin.name,
    back: times.length,
    storm_ms: missing === 0 ? Math.round(times.at(-1)!) : "NaN",
    p50_ms: at(0.5).toFixed(1),
    p99_ms: at(0.99).toFixed(1),
    retries,
    errors: missing
  }
}
