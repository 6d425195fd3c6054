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
 *     w6: --op state|say --conns C --rooms R  the arena (examples/arena): connection i joins room
 *                                           i mod R, then a closed loop of `state` or `say` to it
 *     w7, w8: --conns C --rooms R --kill-pid PID --kill-name NODE (w7 SIGKILLs, w8 SIGTERMs)
 *                                           w6 `say` load; after the warm-up, SIGKILL the runner
 *                                           PID (node NODE); per room it hosted, the time until
 *                                           the room answered again (a request sent after the
 *                                           kill, or a reply from another runner)
 *   w1, w6: --server-pid PID[,PID] adds the servers' CPU time per message (utime + stime from
 *   /proc, over the measured seconds; `cpu_us_per_msg_each` per process); --sql-status true adds
 *   MariaDB's statements and CPU per message; --profile-signal true sends SIGUSR2 to the servers
 *   at the window's start and end (bench/cpuProfile.mjs)
 *
 * Prints one `RESULT key=value …` line (the same keys as the shared peers harness's client, so
 * runs can be compared with it), and appends it as JSON to `--out FILE` if given.
 */
import * as Fs from "node:fs"
import { performance } from "node:perf_hooks"
import { boolArg, numberArg, parseArgs } from "../args.js"
import type { Conn, ConnHooks, Protocol } from "./conn.js"
import { FireflyConn, firefly } from "./fireflyConn.js"
import { openAll } from "./openAll.js"
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
const openConns = <C extends Conn = Conn>(
  n: number,
  hooksOf: (i: number) => ConnHooks,
  parallel = 200,
  connect: (hooks: ConnHooks) => C = (hooks) => proto.connect(host, port, hooks) as C
): Promise<Array<C>> => openAll(n, (i) => connect(hooksOf(i)), parallel)

const rssOf = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  return m === null ? Number.NaN : Number(m[1]) * 1024
}

const serverPids = () =>
  (args.get("server-pid") ?? "")
    .split(",")
    .filter((s) => s !== "")
    .map(Number)

/** Linux reports process CPU time in USER_HZ ticks, 100 per second on every mainstream arch. */
const TICKS_PER_S = 100

/** utime + stime of the processes, in seconds (fields 14 and 15 of /proc/PID/stat). */
const cpuSecondsOf = (pids: ReadonlyArray<number>): number =>
  pids.reduce((sum, pid) => {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return sum + (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S
  }, 0)

/** The servers' CPU µs per message over a measured window (`--server-pid`), if given. */
const cpuMeter = () => {
  const pids = serverPids()
  if (pids.length === 0) return { start: () => {}, fields: (_messages: number) => ({}) }
  let before: Array<number> = []
  return {
    start: () => {
      before = pids.map((pid) => cpuSecondsOf([pid]))
    },
    fields: (messages: number) => {
      const each = pids.map((pid, i) => cpuSecondsOf([pid]) - before[i]!)
      const cpu = each.reduce((a, b) => a + b, 0)
      const perMsg = (s: number) => ((s * 1e6) / Math.max(1, messages)).toFixed(1)
      return {
        server_cpu_s: cpu.toFixed(2),
        cpu_us_per_msg: perMsg(cpu),
        // per server process, in --server-pid order (the arena: front, runner1, …)
        cpu_us_per_msg_each: each.map(perMsg).join("/")
      }
    }
  }
}

/**
 * `--sql-status true` (W6/W7 on MariaDB 127.0.0.1:3306): the server's statement counters and the
 * `mariadbd` process's CPU over the window, per message. The counters are server-wide: another
 * client of the same server during the window is counted too.
 */
const sqlMeter = async () => {
  if (!boolArg(args, "sql-status", false)) return async (_messages: number) => ({})
  const mysql = (await import("mysql2/promise")).default
  const connection = await mysql.createConnection({
    host: "127.0.0.1",
    port: 3306,
    user: "root",
    password: ""
  })
  const names = ["Questions", "Com_select", "Com_insert", "Com_update", "Com_delete", "Com_commit"]
  const status = async () => {
    const [rows] = (await connection.query(
      `SHOW GLOBAL STATUS WHERE Variable_name IN (${names.map((n) => `'${n}'`).join(",")})`
    )) as unknown as [Array<{ Variable_name: string; Value: string }>]
    return new Map(rows.map((r) => [r.Variable_name, Number(r.Value)]))
  }
  const dbPids = Fs.readdirSync("/proc").filter(
    (d) => /^\d+$/.test(d) && Fs.readFileSync(`/proc/${d}/comm`, "utf8").trim() === "mariadbd"
  )
  const dbCpu = () => cpuSecondsOf(dbPids.map(Number))
  const before = await status()
  const cpuBefore = dbCpu()
  return async (messages: number) => {
    const cpu = dbCpu() - cpuBefore
    const after = await status()
    await connection.end()
    const per = (n: string) =>
      ((after.get(n)! - before.get(n)! - (n === "Questions" ? 1 : 0)) / Math.max(1, messages)).toFixed(2)
    return {
      sql_per_msg: per("Questions"),
      sql_select_insert_update_delete_commit_per_msg: names.slice(1).map(per).join("/"),
      db_cpu_us_per_msg: ((cpu * 1e6) / Math.max(1, messages)).toFixed(1)
    }
  }
}

/**
 * Warm up, then measure one window of a closed loop: `measuring(true)` starts counting answers
 * into `samples`, `measuring(false)` stops; the window's length, the servers' CPU and latencies.
 */
const measureWindow = async (samples: Samples, measuring: (on: boolean) => void) => {
  await sleep(warmupMs)
  const cpu = cpuMeter()
  // `--profile-signal`: the servers preload bench/cpuProfile.mjs; SIGUSR2 starts and stops a profile
  const toggleProfiles = () => {
    if (boolArg(args, "profile-signal", false)) for (const pid of serverPids()) process.kill(pid, "SIGUSR2")
  }
  const sql = await sqlMeter()
  toggleProfiles()
  cpu.start()
  measuring(true)
  const t0 = performance.now()
  await sleep(durationMs)
  measuring(false)
  toggleProfiles()
  const secs = (performance.now() - t0) / 1000
  const cpuFields = { ...cpu.fields(samples.count), ...(await sql(samples.count)) }
  return { secs, cpuFields, ...samples.percentiles() }
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
  const { secs, cpuFields, p50, p99 } = await measureWindow(samples, (on) => {
    measuring = on
  })
  stopped = true
  emit({
    workload: "w1",
    server: label,
    op,
    conns: c,
    secs: secs.toFixed(2),
    msgs_per_s: Math.round(samples.count / secs),
    p50_ms: p50.toFixed(3),
    p99_ms: p99.toFixed(3),
    ...cpuFields,
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
  const pids = serverPids()
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

// --- the arena (W6, W7): JSON bodies in firefly frames, commands 1 join, 2 say, 3 state ------

const JOIN = 1
const SAY = 2
const STATE = 3
const json = (value: unknown) => Buffer.from(JSON.stringify(value))
/** A success reply of the arena starts with its `room` field (the response Schemas' first key). */
const isAnswer = (body: Buffer | undefined) =>
  body !== undefined && body.subarray(0, 8).toString() === '{"room":'

interface ArenaConn {
  readonly conn: FireflyConn
  readonly room: string
  readonly player: string
}

/** `conns` arena connections, connection i in room `room<i mod rooms>` as player `p<i>` (joined). */
const arenaConns = async (conns: number, rooms: number, onClose: () => void): Promise<Array<ArenaConn>> => {
  const opened = await openConns(
    conns,
    () => ({ onClose }),
    200,
    (hooks) => new FireflyConn(host, port, hooks, null)
  )
  const joined = opened.map((conn, i) => ({ conn, room: `room${i % rooms}`, player: `p${i}` }))
  await Promise.all(
    joined.map(
      ({ conn, room, player }) =>
        new Promise<void>((resolve, reject) =>
          conn.call(JOIN, json({ room, player }), (error, body) =>
            error !== undefined
              ? reject(error)
              : isAnswer(body)
                ? resolve()
                : reject(new Error(`join ${room}: ${body?.toString() ?? "no body"}`))
          )
        )
    )
  )
  return joined
}

const w6 = async () => {
  const op = args.get("op") ?? "state"
  if (op !== "state" && op !== "say") throw new Error(`--op must be state or say, got ${op}`)
  const c = numberArg(args, "conns", 100)
  const rooms = numberArg(args, "rooms", c)
  let closes = 0
  const conns = await arenaConns(c, rooms, () => closes++)
  const samples = new Samples()
  let measuring = false
  let stopped = false
  let errors = 0
  const loop = ({ conn, room, player }: ArenaConn) => {
    const request = op === "state" ? json({ room }) : json({ room, player, text: "x" })
    const command = op === "state" ? STATE : SAY
    const next = () => {
      if (stopped) return
      const t0 = performance.now()
      conn.call(command, request, (error, body) => {
        if (error !== undefined) {
          errors++
          return
        }
        if (!isAnswer(body)) {
          errors++
          if (errors === 1) console.error(`w6 ${op} ${room}: ${body?.toString()}`)
        } else if (measuring) samples.add(performance.now() - t0)
        next()
      })
    }
    next()
  }
  for (const conn of conns) loop(conn)
  const { secs, cpuFields, p50, p99 } = await measureWindow(samples, (on) => {
    measuring = on
  })
  stopped = true
  emit({
    workload: "w6",
    server: label,
    op,
    conns: c,
    rooms,
    secs: secs.toFixed(2),
    msgs_per_s: Math.round(samples.count / secs),
    p50_ms: p50.toFixed(3),
    p99_ms: p99.toFixed(3),
    ...cpuFields,
    errors: errors + closes
  })
  for (const { conn } of conns) conn.close()
}

/** W7 (SIGKILL: a crash) and W8 (SIGTERM: a planned stop, the runner drains as it exits). */
const failover = (name: "w7" | "w8", signal: NodeJS.Signals) => async () => {
  const c = numberArg(args, "conns", 100)
  const rooms = numberArg(args, "rooms", c)
  const killPid = numberArg(args, "kill-pid", 0)
  const killName = args.get("kill-name") ?? ""
  const timeoutMs = numberArg(args, "timeout", 60) * 1000
  if (killPid <= 0 || killName === "") throw new Error(`${name} needs --kill-pid and --kill-name`)
  let closes = 0
  const conns = await arenaConns(c, rooms, () => closes++)
  /** The runner each room's last answer came from (before the kill). */
  const hostOf = new Map<string, string>()
  const victimRooms = new Set<string>()
  /** Room → ms from the kill until it answered again. */
  const answered = new Map<string, number>()
  let killedAt = Number.POSITIVE_INFINITY
  let stopped = false
  let errors = 0
  let answers = 0
  const loop = ({ conn, room, player }: ArenaConn) => {
    const request = json({ room, player, text: "x" })
    const next = () => {
      if (stopped) return
      const sentAt = performance.now()
      conn.call(SAY, request, (error, body) => {
        if (error !== undefined) {
          errors++
          return
        }
        const now = performance.now()
        if (!isAnswer(body)) {
          errors++
          if (now >= killedAt) {
            console.error(
              `${name} ${room} +${Math.round(now - killedAt)} ms: ${body?.toString().slice(0, 300)}`
            )
          }
          setTimeout(next, 20)
          return
        }
        answers++
        const runner = (JSON.parse(body!.toString()) as { readonly runner: string }).runner
        if (now < killedAt) hostOf.set(room, runner)
        else if (
          victimRooms.has(room) &&
          !answered.has(room) &&
          (sentAt >= killedAt || runner !== killName)
        ) {
          answered.set(room, now - killedAt)
        }
        next()
      })
    }
    next()
  }
  for (const conn of conns) loop(conn)
  await sleep(warmupMs)
  for (const [room, runner] of hostOf) if (runner === killName) victimRooms.add(room)
  if (victimRooms.size === 0) throw new Error(`no room answered from ${killName} during the warm-up`)
  const answersBefore = answers
  killedAt = performance.now()
  process.kill(killPid, signal)
  // the wall-clock time, to line the nodes' logs up with (HOTARU_BENCH_LOG=debug)
  console.error(`${name} ${signal} to ${killName} at ${new Date().toISOString()}`)
  const deadline = killedAt + timeoutMs
  while (answered.size < victimRooms.size && performance.now() < deadline) await sleep(50)
  const secs = (performance.now() - killedAt) / 1000
  stopped = true
  const times = [...answered.values()].sort((a, b) => a - b)
  // the slowest rooms, for the log
  console.error(
    `${name} slowest: ${[...answered]
      .sort(([, a], [, b]) => b - a)
      .slice(0, 5)
      .map(([room, ms]) => `${room} ${Math.round(ms)} ms`)
      .join(", ")}; unanswered: ${[...victimRooms].filter((r) => !answered.has(r)).join(", ") || "none"}`
  )
  const at = (p: number) =>
    times.length === 0 ? Number.NaN : times[Math.min(times.length - 1, Math.floor(times.length * p))]!
  emit({
    workload: name,
    server: label,
    conns: c,
    rooms,
    killed: killName,
    signal,
    victim_rooms: victimRooms.size,
    answered_rooms: answered.size,
    failover_ms: answered.size === victimRooms.size ? Math.round(times.at(-1)!) : "NaN",
    first_ms: Math.round(at(0)),
    median_ms: Math.round(at(0.5)),
    p90_ms: Math.round(at(0.9)),
    msgs_per_s_during: Math.round((answers - answersBefore) / secs),
    errors: errors + closes + (victimRooms.size - answered.size)
  })
  for (const { conn } of conns) conn.close()
}

const workloads: Record<string, () => Promise<void>> = {
  w1,
  w3,
  w4,
  w6,
  w7: failover("w7", "SIGKILL"),
  w8: failover("w8", "SIGTERM")
}
const run = workloads[workload]
if (run === undefined) throw new Error(`--workload must be w1, w3, w4, w6, w7 or w8, got ${workload}`)
run().then(
  () => setTimeout(() => process.exit(0), 200),
  (e: unknown) => {
    console.error(`load client error: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(1)
  }
)
