/**
 * The WebSocket bench's load client (WS1–WS4): `ws` client connections speaking `wire.ts`, the
 * same for hotaru's `wsport` node and the raw `ws` server, in a process of its own.
 *
 *   node --import tsx bench/ws/wsLoad.ts --workload ws1|ws2|ws3|ws4 --port P [--label NAME]
 *     [--conns N] [--duration 10] [--warmup 2] [--body 32] [--server-pid PID[,PID]]
 *     ws1  echo: N connections, a closed loop each                          (echo.ts)
 *     ws2  fan-out: N connections joined, --window 16 rounds in flight       (fanout.ts)
 *     ws3 idle memory: N connections held --hold 2 s; server memory ÷ N     (idle.ts)
 *     ws4 reconnect storm: N clients logged in drop and come back,
 *         --rejoin bind, --timeout 30, --retry-ms 50                        (storm.ts)
 *
 * Prints one `RESULT key=value …` line (`bench/run.ts` reads it).
 */
import { numberArg, parseArgs } from "../args.js"
import { resultLine } from "../load/stats.js"
import { echo } from "./echo.js"
import { fanout } from "./fanout.js"
import { idle } from "./idle.js"
import { storm } from "./storm.js"
import type { Workload } from "./workload.js"

const args = parseArgs(process.argv.slice(2))
const workloads: Record<string, Workload> = { ws1: echo, ws2: fanout, ws3: idle, ws4: storm }
const name = args.get("workload") ?? "ws1"
const workload = workloads[name]
if (workload === undefined) throw new Error(`--workload must be one of ${Object.keys(workloads).join(", ")}`)

workload({
  url: `ws://127.0.0.1:${numberArg(args, "port", 4011)}/`,
  label: args.get("label") ?? "ws",
  conns: numberArg(args, "conns", 100),
  warmupMs: numberArg(args, "warmup", 2) * 1000,
  durationMs: numberArg(args, "duration", 10) * 1000,
  body: Buffer.alloc(numberArg(args, "body", 32), 0x61),
  serverPids: (args.get("server-pid") ?? "")
    .split(",")
    .filter((s) => s !== "")
    .map(Number),
  args
}).then(
  (fields) => {
    process.stdout.write(`${resultLine(fields)}\n`)
    setTimeout(() => process.exit(0), 50)
  },
  (e: unknown) => {
    console.error(`ws load client error: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(1)
  }
)
