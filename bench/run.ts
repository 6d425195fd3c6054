/**
 * `npm run bench`: every workload against hotaru and its baselines, interleaved in one run, one
 * line per cell.
 *
 *   npm run bench                      # 10 s per measurement, fresh server per measurement
 *   npm run bench -- --quick           # 2 s per measurement, servers reused within a round
 *   npm run bench -- --runs 3          # 3 interleaved rounds, then median (min..max) lines
 *   npm run bench -- --only w1,w5      # some workloads
 *   npm run bench -- --only entities   # W6, W7 and W8 (= --only w6,w7,w8; `npm run bench:entities`)
 *   npm run bench -- --only ws         # WS1–WS4 over WebSocket (= --only ws1,ws2,ws3,ws4; bench/ws/cells.ts)
 *   npm run bench -- --runners 1,3     # the runner counts of W6 (W7 kills one of the largest)
 *   npm run bench -- --db pg           # the arena (W6–W8) on PostgreSQL 127.0.0.1:5432, not MariaDB
 *   npm run bench -- --victim runner1  # the runner W7 kills and W8 stops (default runner2)
 *   npm run bench -- --peers pinus     # also measure Pinus (installed on first use into the cache)
 *   npm run bench -- --pinus-cache DIR # where Pinus is installed (default ~/.cache/hotaru-bench)
 *   npm run bench -- --profile DIR     # hotaru processes run with --cpu-prof into DIR (the
 *                                      # arena's nodes: bench/cpuProfile.mjs, W6's measured window)
 *   npm run bench -- --smoke           # CI: ~1 s per cell at tiny sizes, no Pinus
 *
 * Every server runs in its own process (`node --import tsx bench/servers/…`, 127.0.0.1, a free
 * port), the W1–W4 load in another (`bench/load/load.ts`, the same client for hotaru, raw and
 * Pinus), W5 in `bench/load/rpcLoad.ts`. W6/W7 start the arena example through the CLI
 * (`bench/arena.ts`: a net front and 1–3 runner nodes of @effect/cluster on MariaDB
 * 127.0.0.1:3306, or with `--db pg` on PostgreSQL 127.0.0.1:5432) and load it with `bench/load/load.ts` too. Pinus (`--peers pinus`) is the app in `bench/pinus/`,
 * run from a Pinus install in the cache directory (`npm install` of the pinned version on first
 * use; its master, connector and game processes on free ports). Results are also appended as JSON
 * lines to `--out` (default: a file in the OS temp dir, printed at the start).
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { fileURLToPath } from "node:url"
import * as Arena from "./arena.js"
import { boolArg, numberArg, parseArgs } from "./args.js"
import * as WsBench from "./ws/cells.js"

const repo = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const args = parseArgs(process.argv.slice(2))
const smoke = boolArg(args, "smoke", false)
const quick = smoke || boolArg(args, "quick", false)
const runs = numberArg(args, "runs", 1)
const duration = numberArg(args, "duration", smoke ? 0.5 : quick ? 2 : 10)
const warmup = numberArg(args, "warmup", smoke ? 0.2 : quick ? 0.3 : 2)
/** `entities` stands for W6 and W7; `--smoke` leaves them out unless named (they need MariaDB). */
const only = new Set(
  (args.get("only") ?? (smoke ? "w1,w2,w3,w4,w5,ws" : "w1,w2,w3,w4,w5,w6,w7,w8,ws"))
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .flatMap((s) => (s === "entities" ? ["w6", "w7", "w8"] : s === "ws" ? WsBench.workloads : [s]))
)
const runnerCounts = (args.get("runners") ?? "1,2,3").split(",").map((s) => {
  const n = Number(s)
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error(`--runners: 1..9 each, got "${s}"`)
  return n
})
/** The runner W7 kills and W8 stops. */
const victim = args.get("victim") ?? "runner2"
if (!/^runner[1-9]$/.test(victim)) throw new Error(`--victim must be runner1..runner9, got ${victim}`)
const arenaDb = ((db) => {
  if (db !== "mariadb" && db !== "pg") throw new Error(`--db: mariadb or pg, got "${db}"`)
  return db
})(args.get("db") ?? "mariadb")
const peers = new Set(
  (args.get("peers") ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "")
)
for (const peer of peers)
  if (peer !== "pinus") throw new Error(`--peers: unknown peer "${peer}" (known: pinus)`)
const pinusWanted = peers.has("pinus")
/** The Pinus release measured (and its loader's required polyfill). */
const PINUS_VERSION = "1.7.4"
const REFLECT_METADATA_VERSION = "0.2.2"
const pinusCache = Path.resolve(
  args.get("pinus-cache") ??
    Path.join(process.env.XDG_CACHE_HOME ?? Path.join(Os.homedir(), ".cache"), "hotaru-bench"),
  `pinus-${PINUS_VERSION}`
)
const profileDir = args.get("profile") === undefined ? undefined : Path.resolve(args.get("profile")!)
const reuse = quick
const stamp = new Date().toISOString().replace(/[:.]/g, "-")
const outFile = Path.resolve(args.get("out") ?? Path.join(Os.tmpdir(), "hotaru-bench", `${stamp}.jsonl`))
const logDir = Path.join(Path.dirname(outFile), `logs-${stamp}`)

const sizes = smoke
  ? { w1: [2], w2: 2, w3: 20, w4: 200, w4Hold: 0.2, w5: [10], w6: 4, w7: 8 }
  : {
      w1: [1, 100, 1000],
      w2: 100,
      w3: 1000,
      w4: 10_000,
      w4Hold: quick ? 1 : 15,
      w5: [1, 100],
      w6: 100,
      w7: 100
    }
/** W7's warm-up before the kill (every room answered at least once, from its first runner). */
const w7Warmup = smoke ? 1 : 3

// ---------------------------------------------------------------------------------------------
// processes
// ---------------------------------------------------------------------------------------------

interface Server {
  readonly name: string
  readonly pid: number
  readonly port: number
  /** Every process serving the workload (the CPU per message counts them): net + backend, front + runners. */
  readonly pids: ReadonlyArray<number>
  /** The arena's nodes by name (W7 kills one). */
  readonly nodes?: ReadonlyMap<string, number>
  readonly stop: () => Promise<void>
}

const live = new Set<ChildProcess.ChildProcess>()
/** Processes started by a child of ours but detached from it (Pinus's connector and game servers). */
const livePids = new Set<number>()

const signal = (pid: number, sig: NodeJS.Signals | 0) => {
  try {
    process.kill(pid, sig)
    return true
  } catch {
    return false
  }
}

const killAll = () => {
  for (const child of live) child.kill("SIGKILL")
  for (const pid of livePids) signal(pid, "SIGKILL")
}
/** SIGTERM first (run.sh stops its Pinus processes on it), SIGKILL what is left after 5 s. */
let stopping = false
const shutdown = (code: number) => {
  stopping = true
  for (const child of live) child.kill("SIGTERM")
  for (const pid of livePids) signal(pid, "SIGTERM")
  const deadline = Date.now() + 5000
  const poll = setInterval(() => {
    if (live.size === 0 || Date.now() > deadline) {
      clearInterval(poll)
      killAll()
      process.exit(code)
    }
  }, 50)
}
process.on("exit", killAll)
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => shutdown(130))

const tsNode = (
  script: string,
  extra: ReadonlyArray<string>,
  profile: boolean,
  nodeFlags: ReadonlyArray<string> = []
): Array<string> => [
  ...nodeFlags,
  "--import",
  "tsx",
  ...(profile && profileDir !== undefined ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : []),
  Path.join(repo, script),
  ...extra
]

/** Wait for a child to exit, SIGKILL after `graceMs`. */
const stopChild = (child: ChildProcess.ChildProcess, graceMs: number): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(child)
      return resolve()
    }
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
    child.once("exit", () => {
      clearTimeout(timer)
      live.delete(child)
      resolve()
    })
    child.kill("SIGTERM")
  })

/** Start a server script; resolves once it printed `READY port=N`. */
const startServer = (
  name: string,
  script: string,
  extra: ReadonlyArray<string>,
  hotaru: boolean,
  nodeFlags: ReadonlyArray<string> = []
) =>
  new Promise<Server>((resolve, reject) => {
    if (stopping) return reject(new Error("stopping"))
    Fs.mkdirSync(logDir, { recursive: true })
    const log = Fs.createWriteStream(Path.join(logDir, `${name}.log`), { flags: "a" })
    const child = ChildProcess.spawn(process.execPath, tsNode(script, extra, hotaru, nodeFlags), {
      cwd: repo,
      stdio: ["ignore", "pipe", "pipe"]
    })
    live.add(child)
    child.once("exit", () => live.delete(child))
    child.stderr.pipe(log)
    let ready = false
    const timer = setTimeout(() => {
      if (!ready) {
        child.kill("SIGKILL")
        reject(new Error(`${name} did not start in 30 s (see ${log.path})`))
      }
    }, 30_000)
    child.once("exit", (code) => {
      if (!ready) {
        clearTimeout(timer)
        reject(new Error(`${name} exited with ${code} before it was ready (see ${log.path})`))
      }
    })
    Readline.createInterface({ input: child.stdout }).on("line", (line) => {
      log.write(`${line}\n`)
      const m = /^READY port=(\d+)/.exec(line)
      if (m !== null && !ready) {
        ready = true
        clearTimeout(timer)
        resolve({
          name,
          pid: child.pid!,
          port: Number(m[1]),
          pids: [child.pid!],
          stop: () => stopChild(child, 10_000)
        })
      }
    })
  })

/** A free TCP port on 127.0.0.1 (closed again: the server binds it next). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = Net.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as Net.AddressInfo
      probe.close(() => resolve(port))
    })
  })

/** Install Pinus into the cache directory unless that version is already there. */
const installPinus = () => {
  const installed = Path.join(pinusCache, "node_modules", "pinus", "package.json")
  if (Fs.existsSync(installed)) {
    const { version } = JSON.parse(Fs.readFileSync(installed, "utf8")) as { readonly version?: string }
    if (version === PINUS_VERSION) return
  }
  console.log(`installing pinus@${PINUS_VERSION} into ${pinusCache} (first use)`)
  Fs.mkdirSync(pinusCache, { recursive: true })
  Fs.writeFileSync(
    Path.join(pinusCache, "package.json"),
    `${JSON.stringify(
      {
        private: true,
        description: "Pinus for hotaru's bench (npm run bench -- --peers pinus)",
        dependencies: { pinus: PINUS_VERSION, "reflect-metadata": REFLECT_METADATA_VERSION }
      },
      null,
      2
    )}\n`
  )
  const npm = process.platform === "win32" ? "npm.cmd" : "npm"
  const result = ChildProcess.spawnSync(npm, ["install", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: pinusCache,
    stdio: ["ignore", "inherit", "inherit"]
  })
  if (result.status !== 0) {
    throw new Error(`npm install of pinus@${PINUS_VERSION} in ${pinusCache} failed (exit ${result.status})`)
  }
}

/**
 * The bench's Pinus app (`bench/pinus/`), copied beside the cached Pinus install with its
 * config on free ports: `node app.js env=production` starts the master, which spawns the
 * connector and game servers (detached). Ready once both printed `PINUS READY`; `pid` is the
 * connector's (the process W4 measures). Stopping kills all three by pid.
 */
const startPinus = async (name: string): Promise<Server> => {
  if (stopping) throw new Error("stopping")
  const app = Path.join(pinusCache, "app")
  Fs.rmSync(app, { recursive: true, force: true })
  Fs.cpSync(Path.join(repo, "bench", "pinus"), app, { recursive: true })
  const [clientPort, masterPort, connectorPort, gamePort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort()
  ]
  const host = "127.0.0.1"
  const writeConfig = (file: string, production: unknown) =>
    Fs.writeFileSync(Path.join(app, "config", file), JSON.stringify({ production }, null, 2))
  writeConfig("master.json", { id: "master-server-1", host, port: masterPort })
  writeConfig("servers.json", {
    connector: [
      { id: "connector-server-1", host, port: connectorPort, clientHost: host, clientPort, frontend: true }
    ],
    game: [{ id: "game-server-1", host, port: gamePort }]
  })
  Fs.mkdirSync(logDir, { recursive: true })
  const log = Fs.createWriteStream(Path.join(logDir, `${name}.log`), { flags: "a" })
  const master = ChildProcess.spawn(process.execPath, ["app.js", "env=production"], {
    cwd: app,
    stdio: ["ignore", "pipe", "pipe"]
  })
  live.add(master)
  master.stderr.pipe(log)
  const servers = new Map<string, number>()
  const stop = async () => {
    const pids = [...servers.values(), master.pid!]
    for (const pid of pids) signal(pid, "SIGTERM")
    const deadline = Date.now() + 5000
    while (pids.some((pid) => signal(pid, 0)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    for (const pid of pids) signal(pid, "SIGKILL")
    for (const pid of servers.values()) livePids.delete(pid)
    await stopChild(master, 1000)
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name} did not start in 60 s (see ${log.path})`)),
        60_000
      )
      master.once("exit", (code) => {
        clearTimeout(timer)
        reject(new Error(`${name}: the Pinus master exited with ${code} (see ${log.path})`))
      })
      Readline.createInterface({ input: master.stdout }).on("line", (line) => {
        log.write(`${line}\n`)
        const m = /^PINUS READY server=(\S+) pid=(\d+)/.exec(line)
        if (m === null) return
        servers.set(m[1]!, Number(m[2]))
        livePids.add(Number(m[2]))
        if (servers.has("connector-server-1") && servers.has("game-server-1")) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    // let the master's monitor register both servers (the forward route needs the game server)
    await new Promise((resolve) => setTimeout(resolve, 2000))
  } catch (e) {
    await stop()
    throw e
  }
  return {
    name,
    pid: servers.get("connector-server-1")!,
    port: clientPort,
    pids: [...servers.values()],
    stop
  }
}

/** Run a client process; resolves with the fields of its `RESULT` line. */
const runResult = (cmd: string, argv: ReadonlyArray<string>, name: string) =>
  new Promise<Record<string, string>>((resolve, reject) => {
    if (stopping) return reject(new Error("stopping"))
    Fs.mkdirSync(logDir, { recursive: true })
    const log = Fs.createWriteStream(Path.join(logDir, `${name}.log`), { flags: "a" })
    const child = ChildProcess.spawn(cmd, argv, { cwd: repo, stdio: ["ignore", "pipe", "pipe"] })
    live.add(child)
    child.stderr.pipe(log)
    let result: Record<string, string> | undefined
    Readline.createInterface({ input: child.stdout }).on("line", (line) => {
      log.write(`${line}\n`)
      if (line.startsWith("RESULT ") && !line.startsWith("RESULT FAILED")) {
        result = Object.fromEntries(
          line
            .slice(7)
            .split(" ")
            .map((kv) => {
              const i = kv.indexOf("=")
              return [kv.slice(0, i), kv.slice(i + 1)]
            })
        )
      }
    })
    const limit = setTimeout(
      () => {
        child.kill("SIGTERM")
        setTimeout(() => child.kill("SIGKILL"), 5000).unref()
      },
      (warmup + duration) * 1000 + 120_000
    )
    child.once("exit", (code) => {
      clearTimeout(limit)
      live.delete(child)
      if (result !== undefined) resolve(result)
      else reject(new Error(`${name}: no RESULT line (exit ${code}; see ${log.path})`))
    })
  })

// ---------------------------------------------------------------------------------------------
// servers (reused within a round in --quick / --smoke, fresh per measurement otherwise)
// ---------------------------------------------------------------------------------------------

const onOff = (b: boolean) => (b ? "on" : "off")

/** `gc`: W4 servers run with `--expose-gc` and collect once before READY, so RSS "before" is settled. */
type Kind =
  | { readonly _tag: "net"; readonly noDelay: boolean; readonly backend: boolean; readonly gc?: boolean }
  | { readonly _tag: "raw"; readonly noDelay: boolean; readonly gc?: boolean }
  | { readonly _tag: "backend" }
  | { readonly _tag: "stock" }
  | { readonly _tag: "rawRpc" }
  | { readonly _tag: "pinus" }
  /** The arena with `runners` runner nodes; `failover`: W7's own cluster (it kills a runner). */
  | { readonly _tag: "arena"; readonly runners: number; readonly failover: boolean }

const keyOf = (k: Kind): string =>
  k._tag === "net"
    ? `net-nodelay-${onOff(k.noDelay)}${k.backend ? "-fwd" : ""}`
    : k._tag === "raw"
      ? `raw-nodelay-${onOff(k.noDelay)}`
      : k._tag === "arena"
        ? `arena-${k.runners}${k.failover ? "-failover" : ""}`
        : k._tag

/** The processes behind one server kind (the forward net node needs its backend). */
interface Started {
  readonly main: Server
  readonly all: ReadonlyArray<Server>
}

const gcFlags = (gc: boolean | undefined) => (gc === true ? ["--expose-gc"] : [])

const launch = async (k: Kind): Promise<Started> => {
  switch (k._tag) {
    case "net": {
      const extra = ["--nodelay", onOff(k.noDelay)]
      if (!k.backend) {
        const main = await startServer(keyOf(k), "bench/servers/hotaruNet.ts", extra, true, gcFlags(k.gc))
        return { main, all: [main] }
      }
      // reused servers: the W5 backend is the W2 one too (a Root serves every child)
      const backend = reuse
        ? (await acquire({ _tag: "backend" })).main
        : await startServer(`${keyOf(k)}-backend`, "bench/servers/hotaruBackend.ts", [], true)
      const net = await startServer(
        keyOf(k),
        "bench/servers/hotaruNet.ts",
        [...extra, "--backend", String(backend.port)],
        true
      )
      const main = { ...net, pids: [net.pid, backend.pid] }
      return { main, all: reuse ? [main] : [main, backend] }
    }
    case "raw": {
      const main = await startServer(
        keyOf(k),
        "bench/servers/raw.ts",
        ["--nodelay", onOff(k.noDelay)],
        false,
        gcFlags(k.gc)
      )
      return { main, all: [main] }
    }
    case "backend": {
      const main = await startServer("backend", "bench/servers/hotaruBackend.ts", [], true)
      return { main, all: [main] }
    }
    case "stock": {
      const main = await startServer("stock-rpc", "bench/servers/stockRpc.ts", [], false)
      return { main, all: [main] }
    }
    case "rawRpc": {
      const main = await startServer("raw-rpc", "bench/servers/rawRpc.ts", [], false)
      return { main, all: [main] }
    }
    case "pinus": {
      const main = await startPinus("pinus")
      return { main, all: [main] }
    }
    case "arena": {
      if (stopping) throw new Error("stopping")
      const name = keyOf(k)
      Fs.mkdirSync(logDir, { recursive: true })
      const log = Fs.createWriteStream(Path.join(logDir, `${name}.log`), { flags: "a" })
      const arena = await Arena.start({
        runners: k.runners,
        database: `hotaru_arena_bench_${name.replace(/-/g, "_")}`,
        db: arenaDb,
        freePort,
        log,
        onSpawn: (child) => {
          live.add(child)
          child.once("exit", () => live.delete(child))
        },
        timeoutMs: 120_000,
        profileDir
      })
      const main: Server = {
        name,
        pid: arena.master.pid!,
        port: arena.netport,
        pids: [...arena.nodes.values()],
        nodes: arena.nodes,
        stop: () => arena.stop(15_000)
      }
      return { main, all: [main] }
    }
  }
}

const pool = new Map<string, Promise<Started>>()
/** Every kind a cell uses outside W4 (started together at the start of a round when reusing). */
const kindsUsed = new Map<string, Kind>()

/** One arena cluster at a time: an idle one still polls MariaDB and pings its peers. */
const stopPooledArenas = (): Promise<unknown> => {
  const arenas = [...pool].filter(([key]) => key.startsWith("arena-"))
  for (const [key] of arenas) pool.delete(key)
  return Promise.all(arenas.map(([, s]) => s.then(stopStarted, () => undefined)))
}

const acquire = (k: Kind): Promise<Started> => {
  const key = keyOf(k)
  let started = pool.get(key)
  if (started === undefined) {
    started = (k._tag === "arena" ? stopPooledArenas() : Promise.resolve()).then(() => launch(k))
    pool.set(key, started)
  }
  return started
}

const stopStarted = async (s: Started) => {
  for (const server of s.all) await server.stop()
}

/** Run `f` against a server of kind `k`; `fresh` forces a new process (W4 measures its RSS). */
const withServer = async <A>(k: Kind, fresh: boolean, f: (s: Server) => Promise<A>): Promise<A> => {
  if (!reuse || (fresh && !smoke)) {
    if (k._tag === "arena") await stopPooledArenas()
    const started = await launch(k)
    try {
      return await f(started.main)
    } finally {
      await stopStarted(started)
    }
  }
  return f((await acquire(k)).main)
}

const drainPool = async () => {
  const all = [...pool.values()]
  pool.clear()
  for (const p of all) await p.then(stopStarted, () => undefined)
}

// ---------------------------------------------------------------------------------------------
// measurements
// ---------------------------------------------------------------------------------------------

interface Measured {
  /** Filled in by the runner once measured. */
  round: number
  readonly value: number
  readonly p50?: number | undefined
  readonly p99?: number | undefined
  readonly errors: number
  readonly raw: Record<string, string>
}

/** `bench/load/load.ts` against a server of kind `k` (Pinus speaks its own protocol). */
const loadArgs = (k: Kind, label: string, port: number, rest: ReadonlyArray<string>) =>
  tsNode(
    "bench/load/load.ts",
    [
      "--proto",
      k._tag === "pinus" ? "pinus" : "firefly",
      "--label",
      label,
      "--port",
      String(port),
      "--duration",
      String(duration),
      "--warmup",
      String(warmup),
      ...rest
    ],
    false
  )

const measured = (r: Record<string, string>, metric: string): Measured => ({
  round: 0,
  value: Number(r[metric]),
  p50: r.p50_ms === undefined ? undefined : Number(r.p50_ms),
  p99: r.p99_ms === undefined ? undefined : Number(r.p99_ms),
  errors: Number(r.errors ?? r.closed_during_hold ?? 0),
  raw: r
})

/** `cpu`: also the servers' CPU time per message (`--server-pid`). */
const w1 = (k: Kind, label: string, op: "echo" | "forward", conns: number, cpu = false) => {
  kindsUsed.set(keyOf(k), k)
  return () =>
    withServer(k, false, (s) =>
      runResult(
        process.execPath,
        loadArgs(k, label, s.port, [
          "--workload",
          "w1",
          "--op",
          op,
          "--conns",
          String(conns),
          ...(cpu ? ["--server-pid", s.pids.join(",")] : [])
        ]),
        `load-${label}-${op}-c${conns}`
      )
    ).then((r) => measured(r, "msgs_per_s"))
}

const w3 = (k: Kind, label: string) => {
  kindsUsed.set(keyOf(k), k)
  return () =>
    withServer(k, false, (s) =>
      runResult(
        process.execPath,
        loadArgs(k, label, s.port, ["--workload", "w3", "--conns", String(sizes.w3), "--window", "16"]),
        `load-${label}-w3`
      )
    ).then((r) => measured(r, "deliveries_per_s"))
}

const w4 = (k: Kind, label: string) => () =>
  withServer(k, true, (s) =>
    runResult(
      process.execPath,
      loadArgs(k, label, s.port, [
        "--workload",
        "w4",
        "--conns",
        String(sizes.w4),
        "--hold",
        String(sizes.w4Hold),
        "--server-pid",
        String(s.pid)
      ]),
      `load-${label}-w4`
    )
  ).then((r) => measured(r, "bytes_per_conn"))

const w5 = (k: Kind, target: "hotaru" | "stock" | "raw", inflight: number) => {
  kindsUsed.set(keyOf(k), k)
  return () =>
    withServer(k, false, (s) =>
      runResult(
        process.execPath,
        tsNode(
          "bench/load/rpcLoad.ts",
          [
            "--target",
            target,
            "--port",
            String(s.port),
            "--inflight",
            String(inflight),
            "--duration",
            String(duration),
            "--warmup",
            String(warmup)
          ],
          target === "hotaru"
        ),
        `load-w5-${target}-k${inflight}`
      )
    ).then((r) => measured(r, "calls_per_s"))
}

const pinusKind: Kind = { _tag: "pinus" }

/** W6: a closed loop of `state` or `say` per connection, one room per connection (rooms = conns). */
const w6 = (runners: number, op: "state" | "say", conns: number) => {
  const k: Kind = { _tag: "arena", runners, failover: false }
  return () =>
    withServer(k, false, (s) =>
      runResult(
        process.execPath,
        loadArgs(k, "arena", s.port, [
          "--workload",
          "w6",
          "--op",
          op,
          "--conns",
          String(conns),
          "--rooms",
          String(conns),
          "--server-pid",
          s.pids.join(","),
          "--sql-status",
          String(arenaDb === "mariadb"),
          ...(profileDir === undefined ? [] : ["--profile-signal", "true"])
        ]),
        `load-w6-${op}-r${runners}`
      )
    ).then((r) => measured(r, "msgs_per_s"))
}

/**
 * W7: `say` load on a fresh cluster, SIGKILL of `--victim` (runner2) after the warm-up (see load.ts). `--smoke`
 * kills a runner of W6's cluster instead (W7 is the round's last cell; the pool is drained after it).
 */
const failover = (workload: "w7" | "w8", runners: number, conns: number) => {
  const k: Kind = { _tag: "arena", runners, failover: !smoke }
  return () =>
    withServer(k, true, (s) =>
      runResult(
        process.execPath,
        tsNode(
          "bench/load/load.ts",
          [
            "--label",
            "arena",
            "--port",
            String(s.port),
            "--workload",
            workload,
            "--conns",
            String(conns),
            "--rooms",
            String(conns),
            "--warmup",
            String(w7Warmup),
            "--kill-pid",
            String(s.nodes?.get(victim) ?? 0),
            "--kill-name",
            victim,
            "--timeout",
            "60"
          ],
          false
        ),
        `load-${workload}-r${runners}`
      )
    ).then((r) => {
      const m = measured(r, "failover_ms")
      return { ...m, p50: undefined, p99: undefined }
    })
}

// ---------------------------------------------------------------------------------------------
// cells
// ---------------------------------------------------------------------------------------------

interface Side {
  readonly label: string
  readonly run: () => Promise<Measured>
}

interface Cell {
  readonly workload: string
  readonly title: string
  readonly unit: string
  readonly sides: ReadonlyArray<Side>
  /** ratio = sides[0] / the side labelled `versus` (no ratio without one) */
  readonly versus?: string
  /** More about the hotaru side's measurements, appended to its figure. */
  readonly detail?: (ms: ReadonlyArray<Measured>) => string
  readonly target?: { readonly op: ">=" | "<="; readonly value: number; readonly of: "ratio" | "value" }
  /** Printed when `versus` was not measured (Pinus skipped). */
  readonly reference?: number
}

const hotaruNoDelay = true
const cells: Array<Cell> = []

if (only.has("w1")) {
  for (const c of sizes.w1) {
    cells.push({
      workload: "w1",
      title: `W1 echo c=${c} [nodelay hotaru=on raw=on]`,
      unit: "msg/s",
      sides: [
        {
          label: "hotaru",
          run: w1({ _tag: "net", noDelay: hotaruNoDelay, backend: false }, "hotaru", "echo", c)
        },
        { label: "raw", run: w1({ _tag: "raw", noDelay: hotaruNoDelay }, "raw", "echo", c) },
        ...(pinusWanted ? [{ label: "pinus", run: w1(pinusKind, "pinus", "echo", c) }] : [])
      ],
      versus: "raw",
      ...(c >= 100 ? { target: { op: ">=", value: 0.8, of: "ratio" } as const } : {})
    })
  }
}
if (only.has("w2")) {
  cells.push({
    workload: "w2",
    title: `W2 forward c=${sizes.w2} [nodelay hotaru=on pinus=off]`,
    unit: "msg/s",
    sides: [
      {
        label: "hotaru",
        run: w1({ _tag: "net", noDelay: true, backend: true }, "hotaru", "forward", sizes.w2)
      },
      ...(pinusWanted ? [{ label: "pinus", run: w1(pinusKind, "pinus", "forward", sizes.w2) }] : [])
    ],
    versus: "pinus",
    target: { op: ">=", value: 1.5, of: "ratio" },
    reference: 38_598
  })
}
if (only.has("w3")) {
  for (const noDelay of smoke ? [true] : [true, false]) {
    cells.push({
      workload: "w3",
      title: `W3 fan-out n=${sizes.w3} [nodelay hotaru=${onOff(noDelay)} raw=${onOff(noDelay)}${noDelay ? "" : " pinus=off"}]`,
      unit: "deliveries/s",
      sides: [
        { label: "hotaru", run: w3({ _tag: "net", noDelay, backend: false }, "hotaru") },
        { label: "raw", run: w3({ _tag: "raw", noDelay }, "raw") },
        ...(pinusWanted && !noDelay ? [{ label: "pinus", run: w3(pinusKind, "pinus") }] : [])
      ],
      versus: "raw",
      target: { op: ">=", value: 0.8, of: "ratio" }
    })
  }
}
if (only.has("w4")) {
  cells.push({
    workload: "w4",
    title: `W4 idle n=${sizes.w4} hold=${sizes.w4Hold}s [nodelay hotaru=on raw=on]`,
    unit: "B/conn",
    sides: [
      { label: "hotaru", run: w4({ _tag: "net", noDelay: true, backend: false, gc: true }, "hotaru") },
      { label: "raw", run: w4({ _tag: "raw", noDelay: true, gc: true }, "raw") },
      ...(pinusWanted
        ? [
            {
              label: "pinus",
              run: w4(pinusKind, "pinus")
            }
          ]
        : [])
    ],
    versus: "raw",
    target: { op: "<=", value: 4096, of: "value" }
  })
}
if (only.has("w5")) {
  for (const k of sizes.w5) {
    cells.push({
      workload: "w5",
      title: `W5 rpc in-flight=${k} [nodelay hotaru=on stock=off raw=on]`,
      unit: "calls/s",
      sides: [
        { label: "hotaru", run: w5({ _tag: "backend" }, "hotaru", k) },
        { label: "stock @effect/rpc", run: w5({ _tag: "stock" }, "stock", k) },
        { label: "raw", run: w5({ _tag: "rawRpc" }, "raw", k) }
      ],
      versus: "stock @effect/rpc",
      ...(k >= 100 ? { target: { op: ">=", value: 4, of: "ratio" } as const } : {})
    })
  }
}

if (only.has("w6")) {
  for (const runners of runnerCounts) {
    for (const op of ["state", "say"] as const) {
      cells.push({
        workload: "w6",
        title: `W6 entity ${op} c=${sizes.w6} rooms=${sizes.w6} runners=${runners} db=${arenaDb}`,
        unit: "msg/s",
        sides: [
          { label: "hotaru", run: w6(runners, op, sizes.w6) },
          {
            label: "W2 direct link",
            run: w1({ _tag: "net", noDelay: true, backend: true }, "hotaru", "forward", sizes.w6, true)
          }
        ],
        versus: "W2 direct link"
      })
    }
  }
}
for (const [workload, signal, what] of [
  ["w7", "SIGKILL", "failover"],
  ["w8", "SIGTERM", "planned stop"]
] as const) {
  if (!only.has(workload)) continue
  const runners = Math.max(...runnerCounts)
  if (runners < 2) console.error(`${workload} needs a runner count of 2 or more in --runners: skipped`)
  else {
    const s = Arena.shardingSettings
    cells.push({
      workload,
      title:
        `${workload.toUpperCase()} ${what} c=${sizes.w7} runners=${runners} db=${arenaDb} ${signal} ${victim} ` +
        `[shardLockExpiration=${s.shardLockExpiration} runnerHealthCheckInterval=${s.runnerHealthCheckInterval} ` +
        `refreshAssignmentsInterval=${s.refreshAssignmentsInterval} entityMessagePollInterval=${s.entityMessagePollInterval}]`,
      unit: "ms",
      sides: [{ label: "hotaru", run: failover(workload, runners, sizes.w7) }],
      detail: (ms) => {
        const of = (key: string) =>
          spread(
            ms.map((m) => Number(m.raw[key])),
            fmtInt
          )
        return ` until every room of the ${signal === "SIGKILL" ? "killed" : "stopped"} runner answered (first ${of("first_ms")} ms, median ${of(
          "median_ms"
        )} ms, p90 ${of("p90_ms")} ms; ${of("answered_rooms")}/${of("victim_rooms")} rooms)`
      }
    })
  }
}

const ws = WsBench.cells({ only, smoke, quick, duration, warmup, startServer, runResult, tsNode, measured })
cells.push(...ws.cells)

// ---------------------------------------------------------------------------------------------
// output
// ---------------------------------------------------------------------------------------------

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a")
const fmtMs = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "" : n.toFixed(3))
const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  return n === 0 ? Number.NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2
}
const spread = (xs: ReadonlyArray<number>, f: (n: number) => string) =>
  xs.length > 1 ? `${f(median(xs))} (${f(Math.min(...xs))}..${f(Math.max(...xs))})` : f(xs[0] ?? Number.NaN)

/** Per cell and side, the measurements of every round. */
const results = new Map<Cell, Map<string, Array<Measured>>>()

/** hotaru ÷ the `versus` side of the same round; ÷ the README figure only when that side is not run. */
const ratioOf = (cell: Cell, hot: number, versus: number | undefined) =>
  versus !== undefined
    ? hot / versus
    : cell.reference !== undefined && !cell.sides.some((s) => s.label === cell.versus)
      ? hot / cell.reference
      : Number.NaN

const verdict = (cell: Cell, ratio: number, value: number) => {
  const t = cell.target
  if (t === undefined) return ""
  const x = t.of === "ratio" ? ratio : value
  if (!Number.isFinite(x)) return ""
  const ok = t.op === ">=" ? x >= t.value : x <= t.value
  return ` (target ${t.of === "ratio" ? "ratio" : cell.unit} ${t.op} ${t.value}: ${ok ? "met" : "MISSED"})`
}

const lineOf = (cell: Cell, perSide: Map<string, Array<Measured>>): string => {
  const hot = perSide.get("hotaru") ?? []
  const parts: Array<string> = []
  for (const side of cell.sides) {
    const ms = perSide.get(side.label) ?? []
    if (ms.length === 0) {
      parts.push(`${side.label} FAILED`)
      continue
    }
    let s = `${side.label} ${spread(
      ms.map((m) => m.value),
      fmtInt
    )} ${cell.unit}`
    if (side.label === "hotaru" && cell.detail !== undefined) s += cell.detail(ms)
    if (side.label === "hotaru" && ms[0]!.p50 !== undefined) {
      s += ` p50 ${spread(
        ms.map((m) => m.p50!),
        fmtMs
      )} ms p99 ${spread(
        ms.map((m) => m.p99!),
        fmtMs
      )} ms`
    }
    if (ms[0]!.raw.cpu_us_per_msg !== undefined) {
      s += ` cpu ${spread(
        ms.map((m) => Number(m.raw.cpu_us_per_msg)),
        (n) => n.toFixed(1)
      )} µs/msg`
      // per process (the arena: front/runner1/…), and MariaDB's share (W6)
      if (ms[0]!.raw.cpu_us_per_msg_each?.includes("/")) s += ` (${ms[0]!.raw.cpu_us_per_msg_each})`
    }
    if (ms[0]!.raw.sql_per_msg !== undefined) {
      s += ` sql ${spread(
        ms.map((m) => Number(m.raw.sql_per_msg)),
        (n) => n.toFixed(1)
      )} stmt/msg, mariadb cpu ${spread(
        ms.map((m) => Number(m.raw.db_cpu_us_per_msg)),
        (n) => n.toFixed(0)
      )} µs/msg`
    }
    const errors = ms.reduce((n, m) => n + m.errors, 0)
    if (errors > 0) s += ` [${errors} errors]`
    parts.push(s)
  }
  if (cell.versus === undefined) return `${cell.title}: ${parts.join(", ")}`
  if (!cell.sides.some((s) => s.label === cell.versus) && cell.reference !== undefined) {
    parts.push(`${cell.versus} not run (README figure ${fmtInt(cell.reference)})`)
  }
  const versus = perSide.get(cell.versus) ?? []
  const ratios = hot.map((h) => ratioOf(cell, h.value, versus.find((v) => v.round === h.round)?.value))
  const ratio = median(ratios)
  const ratioText =
    ratios.length === 0 ? "n/a" : spread(ratios, (n) => (Number.isFinite(n) ? n.toFixed(2) : "n/a"))
  // CPU per message against the same round's `versus` side, where both measured it
  const cpuOf = (m: Measured | undefined) =>
    m?.raw.cpu_us_per_msg === undefined ? Number.NaN : Number(m.raw.cpu_us_per_msg)
  const cpuRatios = hot
    .map((h) => cpuOf(h) / cpuOf(versus.find((v) => v.round === h.round)))
    .filter(Number.isFinite)
  const cpuText =
    cpuRatios.length === 0 ? "" : `, cpu/msg ${spread(cpuRatios, (n) => n.toFixed(2))} x ${cell.versus}`
  return `${cell.title}: ${parts.join(", ")}, ratio ${ratioText} vs ${cell.versus}${cpuText}${verdict(
    cell,
    ratio,
    median(hot.map((m) => m.value))
  )}`
}

const main = async () => {
  Fs.mkdirSync(Path.dirname(outFile), { recursive: true })
  if (pinusWanted) installPinus()
  if (profileDir !== undefined) Fs.mkdirSync(profileDir, { recursive: true })
  const cpus = Os.cpus()
  console.log(
    `hotaru bench: ${cpus.length} x ${cpus[0]?.model ?? "?"}, ${Math.round(Os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ` +
      `load ${Os.loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}, ${new Date().toISOString()}`
  )
  console.log(
    `mode ${smoke ? "smoke" : quick ? "quick" : "full"}: ${runs} round(s), ${duration} s measured after ${warmup} s warm-up, ` +
      `${reuse ? "servers reused within a round (W4: fresh)" : "a fresh server per measurement"}, ` +
      `pinus ${pinusWanted ? "on" : "off"}; results ${outFile}`
  )
  const started = Date.now()
  for (let round = 1; round <= runs; round++) {
    if (reuse) await Promise.all([...kindsUsed.values()].map(acquire))
    for (const cell of cells) {
      let perSide = results.get(cell)
      if (perSide === undefined) {
        perSide = new Map()
        results.set(cell, perSide)
      }
      // alternate who goes first, so slow drift does not favour one side
      const order = round % 2 === 1 ? cell.sides : [...cell.sides].reverse()
      const runSide = async (side: Side) => {
        try {
          const m = await side.run()
          m.round = round
          const list = perSide.get(side.label) ?? []
          list.push(m)
          perSide.set(side.label, list)
          Fs.appendFileSync(
            outFile,
            `${JSON.stringify({ ts: new Date().toISOString(), round, cell: cell.title, side: side.label, ...m.raw })}\n`
          )
        } catch (e) {
          console.error(`${cell.title} / ${side.label}: ${e instanceof Error ? e.message : String(e)}`)
        }
      }
      // --smoke checks that every side answers, not how fast: its sides run at once
      if (smoke) await Promise.all(order.map(runSide))
      else for (const side of order) await runSide(side)
      const single = new Map([...perSide].map(([k, v]) => [k, v.slice(-1)]))
      console.log(runs > 1 ? `[round ${round}/${runs}] ${lineOf(cell, single)}` : lineOf(cell, perSide))
    }
    await drainPool()
    await ws.drain()
  }
  if (runs > 1) {
    console.log(`\nmedian (min..max) of ${runs} rounds:`)
    for (const cell of cells) console.log(lineOf(cell, results.get(cell) ?? new Map()))
  }
  console.log(`done in ${Math.round((Date.now() - started) / 1000)} s`)
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.message : String(e))
    shutdown(1)
  }
)
