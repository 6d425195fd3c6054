/**
 * The cluster W6 and W7 measure (`bench/run.ts`): the arena example (`examples/arena/`, rooms as
 * `@effect/cluster` entities) started through the CLI, `hotaru start CONFIG`, with a net front and
 * 1–3 runner nodes on MariaDB (127.0.0.1:3306, root, no password) or PostgreSQL (127.0.0.1:5432,
 * trust, user postgres): a database of the caller's naming, created for each start and dropped at
 * the stop. The `sharding` block is the example's own
 * (`examples/arena/config.json`), so the bench measures the settings its README documents.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { PgClient } from "@effect/sql-pg"
import { Effect } from "effect"
import mysql from "mysql2/promise"
import * as EntitySharding from "../src/EntitySharding.js"
import type * as Master from "../src/Master.js"

const repo = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const arena = Path.join(repo, "examples", "arena")
const bin = Path.join(repo, "bin", "hotaru.js")

/** The example's `sharding` block (seconds), used as it is. */
export const shardingSettings: Readonly<Record<string, number>> = (
  JSON.parse(Fs.readFileSync(Path.join(arena, "config.json"), "utf8")) as {
    readonly sharding: Record<string, number>
  }
).sharding

export interface Arena {
  /** The master process (`hotaru start`); its nodes follow it when it dies (orphan guard). */
  readonly master: ChildProcess.ChildProcess
  readonly netport: number
  /** Node name → pid (`front`, `runner1`…). */
  readonly nodes: ReadonlyMap<string, number>
  /** SIGTERM the master, SIGKILL after `graceMs`. */
  readonly stop: (graceMs: number) => Promise<void>
  /** The master's `/status` (node states, pids, restarts). */
  readonly status: () => Promise<Master.StatusReport>
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The database the arena's cluster and rooms live in. */
export type Db = "mariadb" | "pg"

const query = (db: Db, statements: ReadonlyArray<string>): Promise<Array<unknown>> =>
  db === "pg" ? queryPg(statements) : queryMaria(statements)

const queryPg = (statements: ReadonlyArray<string>): Promise<Array<unknown>> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      const results: Array<unknown> = []
      for (const statement of statements) results.push(yield* sql.unsafe(statement))
      return results
    }).pipe(
      Effect.provide(
        PgClient.layer({ host: "127.0.0.1", port: 5432, username: "postgres", database: "postgres" })
      )
    )
  )

const queryMaria = async (statements: ReadonlyArray<string>): Promise<Array<unknown>> => {
  const connection = await mysql.createConnection({
    host: "127.0.0.1",
    port: 3306,
    user: "root",
    password: ""
  })
  try {
    const results: Array<unknown> = []
    for (const statement of statements) results.push((await connection.query(statement))[0])
    return results
  } finally {
    await connection.end()
  }
}

/**
 * The MariaDB connection holding each shard's lock, shard 1 first (`null`: no holder). A runner
 * holds each of its shards by a server-wide named lock, `GET_LOCK('<prefix>.default:<n>')`, prefix
 * `EntitySharding.defaultPrefix`.
 */
export const shardLocks = async (database: string): Promise<Array<number | null>> => {
  const shards = shardingSettings.shardsPerGroup ?? 300
  const prefix = EntitySharding.defaultPrefix({
    driver: "mysql",
    host: "127.0.0.1",
    user: "root",
    db: database
  })
  const columns = Array.from(
    { length: shards },
    (_, i) => `IS_USED_LOCK('${prefix}.default:${i + 1}') AS s${i + 1}`
  )
  const [rows] = (await query("mariadb", [`SELECT ${columns.join(", ")}`])) as [
    Array<Record<string, number | null>>
  ]
  return Array.from({ length: shards }, (_, i) => {
    const holder = rows[0]?.[`s${i + 1}`]
    return holder === undefined || holder === null ? null : Number(holder)
  })
}

/** The connections (PostgreSQL: backends) holding the shard locks, or `undefined` while a shard has no holder. */
const shardHolders = async (db: Db, database: string): Promise<Set<number> | undefined> => {
  if (db === "pg") {
    // PostgreSQL: one session-level advisory lock per shard (`pg_try_advisory_lock`)
    const shards = shardingSettings.shardsPerGroup ?? 300
    const [rows] = (await query(db, [
      `SELECT pid, count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted ` +
        `AND database = (SELECT oid FROM pg_database WHERE datname = '${database}') GROUP BY pid`
    ])) as [Array<{ pid: number; n: number }>]
    const held = rows.reduce((sum, r) => sum + r.n, 0)
    return held === shards ? new Set(rows.map((r) => r.pid)) : undefined
  }
  const holders = await shardLocks(database)
  if (holders.some((h) => h === null)) return undefined
  return new Set(holders as Array<number>)
}

export interface StartOptions {
  readonly runners: number
  /** A database name of `[a-z0-9_]`, dropped and created here, dropped again by `stop`. */
  readonly database: string
  /** MariaDB (the default) or PostgreSQL. */
  readonly db?: Db | undefined
  readonly freePort: () => Promise<number>
  /** The master's stderr (and its nodes', which it forwards) go here. */
  readonly log: NodeJS.WritableStream
  /** Called with the master process as soon as it is spawned (so the caller can kill it on exit). */
  readonly onSpawn: (child: ChildProcess.ChildProcess) => void
  readonly timeoutMs: number
  /**
   * Preload `bench/cpuProfile.mjs` into the master and every node: SIGUSR2 toggles a CPU profile
   * written into this directory (`load.ts --profile-signal` sends it around the measured window).
   */
  readonly profileDir?: string | undefined
}

/**
 * Start the arena with `runners` runner nodes; resolves once every node reports `running` and the
 * shards are spread over all the runners.
 */
export const start = async (options: StartOptions): Promise<Arena> => {
  const { database } = options
  const db = options.db ?? "mariadb"
  if (!/^[a-z0-9_]{1,63}$/.test(database)) throw new Error(`bad database name ${database}`)
  await query(db, [`DROP DATABASE IF EXISTS ${database}`, `CREATE DATABASE ${database}`])
  // `freePort` may hand back a port it gave before (each is released at once): draw until distinct
  const taken = new Set<number>()
  const port = async (): Promise<number> => {
    for (;;) {
      const p = await options.freePort()
      if (taken.has(p)) continue
      taken.add(p)
      return p
    }
  }
  const rootport = await port()
  const webport = await port()
  const netport = await port()
  const servers: Record<string, unknown> = {
    // a room call that never returns (a lost persisted message) is answered Timeout after 10 s,
    // below the load clients' 20 s: the replies queued behind it on its connection still go
    front: { netport, entities: true, app: Path.join(arena, "front.ts"), limits: { requestTimeout: 10 } }
  }
  for (let i = 1; i <= options.runners; i++) {
    servers[`runner${i}`] = { runnerport: await port(), app: Path.join(arena, "runner.ts") }
  }
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-bench-arena-"))
  const file = Path.join(dir, "config.json")
  Fs.writeFileSync(
    file,
    JSON.stringify({
      master: { rootport, webport },
      servers,
      db:
        db === "pg"
          ? { driver: "pg", host: "127.0.0.1", port: 5432, user: "postgres", passwd: "", db: database }
          : { host: "127.0.0.1", port: 3306, user: "root", passwd: "", db: database },
      sharding: shardingSettings,
      supervisor: { graceSeconds: 3 }
    })
  )
  const master = ChildProcess.spawn(process.execPath, [bin, "start", file], {
    cwd: repo,
    // HOTARU_BENCH_LOG (e.g. debug) sets the nodes' log level; their logs (stdout) go to the log too
    stdio: ["ignore", process.env.HOTARU_BENCH_LOG === undefined ? "ignore" : "pipe", "pipe"],
    env: {
      ...process.env,
      HOTARU_LOG: process.env.HOTARU_BENCH_LOG ?? "warning",
      ...(options.profileDir === undefined
        ? {}
        : {
            HOTARU_BENCH_PROFILE_DIR: options.profileDir,
            NODE_OPTIONS: [
              process.env.NODE_OPTIONS ?? "",
              `--import ${pathToFileURL(Path.join(repo, "bench", "cpuProfile.mjs")).href}`
            ].join(" ")
          })
    }
  })
  options.onSpawn(master)
  master.stderr?.pipe(options.log)
  master.stdout?.pipe(options.log)
  const exited = () => master.exitCode !== null || master.signalCode !== null
  const stop = async (graceMs: number) => {
    if (!exited()) {
      const gone = new Promise((resolve) => master.once("exit", resolve))
      master.kill("SIGTERM")
      await Promise.race([gone, sleep(graceMs)])
      if (!exited()) master.kill("SIGKILL")
    }
    Fs.rmSync(dir, { recursive: true, force: true })
    await query(db, [`DROP DATABASE IF EXISTS ${database}`]).catch(() => undefined)
  }
  const status = async (): Promise<Master.StatusReport> => {
    const token = Fs.readFileSync(Path.join(dir, ".hotaru-admin-token"), "utf8").trim()
    const response = await fetch(`http://127.0.0.1:${webport}/status`, {
      headers: { authorization: `Bearer ${token}` }
    })
    if (!response.ok) throw new Error(`/status: HTTP ${response.status}`)
    return (await response.json()) as Master.StatusReport
  }
  const deadline = Date.now() + options.timeoutMs
  let settled = 0
  let lastSeen = "no /status answer"
  try {
    while (true) {
      if (exited()) throw new Error(`hotaru start exited with ${master.exitCode ?? master.signalCode}`)
      if (Date.now() > deadline) {
        throw new Error(
          `the arena (${options.runners} runners) did not run in ${options.timeoutMs / 1000} s ` +
            `(last: ${lastSeen})`
        )
      }
      const report = await status().catch(() => undefined)
      if (report !== undefined) lastSeen = report.nodes.map((n) => `${n.name} ${n.state}`).join(", ")
      if (
        report !== undefined &&
        report.nodes.length === options.runners + 1 &&
        report.nodes.every((n) => n.state === "running" && n.pid !== null)
      ) {
        // settled: every shard locked, by as many holders as there are runners, twice in a row
        // (a runner that joins late takes its shards from the others over a few refreshes)
        const holders = await shardHolders(db, database).catch(() => undefined)
        lastSeen =
          holders === undefined ? "a shard without a lock" : `shards locked by ${holders.size} runners`
        settled = holders?.size === options.runners ? settled + 1 : 0
        if (settled >= 2) {
          return {
            master,
            netport,
            nodes: new Map(report.nodes.map((n) => [n.name, n.pid!])),
            stop,
            status
          }
        }
      }
      await sleep(500)
    }
  } catch (e) {
    await stop(5000)
    throw e
  }
}
