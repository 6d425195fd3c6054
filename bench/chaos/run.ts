/**
 * The chaos suite (`npm run chaos`; see CHAOS.md): node processes sharing one repository, clients
 * doing inserts, updates and compare-and-set increments, and faults at seeded random times. After
 * the faults stop and a final flush, every acknowledged write must be in the database with the
 * last acknowledged value of its row, nothing never written may appear, and no compare-and-set
 * increment may be lost.
 *
 *   npm run chaos                       # every backend, 3 rounds each
 *   npm run chaos -- --quick            # one short seeded round on MariaDB + Redis
 *   npm run chaos -- --backend pg --rounds 5 --seed 42
 *   npm run chaos -- --smoke            # a few seconds: the embedded default, one SIGKILL
 *
 * Backends: `mariadb` (two nodes, MariaDB database `hotaru_chaos`, a Redis the suite starts on a
 * free port with AOF appendfsync always), `pg` (the same on PostgreSQL), `embedded` (one node,
 * SQLite + the in-process cache, SIGKILL as the fault), `entities` (the arena example's `Room`
 * entities on @effect/cluster, persisted `say`s, runner SIGKILL and SIGSTOP: `entities.ts`). Prints a table and ends with `lost 0`
 * when every invariant held; exits 1 otherwise.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Client from "../../src/Client.js"
import * as Db from "../../src/Db.js"
import type * as Mem from "../../src/Mem.js"
import { type RedisServer, startRedisServer } from "../../test/support/redisServer.js"
import { entityRound, violations } from "./entities.js"
import { Cas, Insert, type NodeOptions, type Refused, SetValue } from "./node.js"
import { prng } from "./prng.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const CHAOS_DB = "hotaru_chaos"

type Backend = "mariadb" | "pg" | "embedded" | "entities"

// ---------------------------------------------------------------------------------------------
// arguments

const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(`--${name}`)
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}
const quick = flag("quick")
const smoke = flag("smoke")
const backends: ReadonlyArray<Backend> = smoke
  ? ["embedded"]
  : arg("backend") !== undefined
    ? (arg("backend")!.split(",") as Array<Backend>)
    : quick
      ? ["mariadb"]
      : ["mariadb", "pg", "embedded", "entities"]
const rounds = Number(arg("rounds") ?? (quick || smoke ? 1 : 3))
const firstSeed = Number(arg("seed") ?? (quick || smoke ? 1 : Date.now() % 100_000))
const workers = Number(arg("workers") ?? (smoke ? 2 : 4))
const opsPerWorker = Number(arg("ops") ?? (smoke ? 60 : quick ? 300 : 800))
const faultWindowMs = Number(arg("fault-window") ?? (smoke ? 1_500 : quick ? 8_000 : 20_000))
const faultCount = Number(arg("faults") ?? (smoke ? 1 : quick ? 6 : 14))
const roundDeadlineMs = 180_000
const leaseTtlMs = 1_000
const stopMs = 2_500 // SIGSTOP longer than the lease

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------------
// node processes

interface NodeProc {
  child: ChildProcess | undefined
  port: number
  stopped: boolean
  readonly log: Array<string>
}

const startNode = (options: NodeOptions, proc: NodeProc): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(here, "node.ts"), JSON.stringify(options)],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    proc.child = child
    proc.stopped = false
    let buffered = ""
    let ready = false
    const timer = setTimeout(() => {
      if (!ready) {
        child.kill("SIGKILL")
        reject(new Error(`node not ready in 30 s:\n${proc.log.slice(-20).join("\n")}`))
      }
    }, 30_000)
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8")
      const lines = buffered.split("\n")
      buffered = lines.pop()!
      for (const line of lines) {
        if (proc.log.length < 5_000) proc.log.push(line)
        if (!ready && line.startsWith('{"ready":true')) {
          ready = true
          clearTimeout(timer)
          proc.port = (JSON.parse(line) as { port: number }).port
          resolve()
        }
      }
    })
    child.stderr!.on("data", (chunk: Buffer) => {
      if (proc.log.length < 5_000) proc.log.push(chunk.toString("utf8"))
    })
    child.once("exit", (code, signal) => {
      if (!ready) {
        clearTimeout(timer)
        reject(new Error(`node exited (${code ?? signal}) before ready:\n${proc.log.slice(-20).join("\n")}`))
      }
    })
  })

const exited = (child: ChildProcess, timeoutMs: number): Promise<boolean> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(true)
    const timer = setTimeout(() => resolve(false), timeoutMs)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve(true)
    })
  })

const alive = (proc: NodeProc) =>
  proc.child !== undefined && proc.child.exitCode === null && proc.child.signalCode === null

const killNode = async (proc: NodeProc) => {
  if (!alive(proc)) return
  proc.child!.kill("SIGKILL")
  await exited(proc.child!, 10_000)
  proc.stopped = false
}

/** SIGTERM (clean stop, final flush); SIGKILL after 30 s. */
const termNode = async (proc: NodeProc) => {
  if (!alive(proc)) return
  if (proc.stopped) proc.child!.kill("SIGCONT")
  proc.child!.kill("SIGTERM")
  if (!(await exited(proc.child!, 30_000))) await killNode(proc)
}

// ---------------------------------------------------------------------------------------------
// clients: one connection at a time, one call at a time

interface Conn {
  readonly scope: Scope.CloseableScope
  readonly client: Client.Client
  readonly node: number
}

type Outcome =
  | { readonly kind: "ok"; readonly v?: number }
  | { readonly kind: "refused"; readonly tag: string }
  | {
      readonly kind: "unknown"
    }

class Worker {
  conn: Conn | undefined
  constructor(
    readonly nodes: ReadonlyArray<NodeProc>,
    readonly rand: () => number
  ) {}

  async connect(): Promise<Conn | undefined> {
    for (let attempt = 0; attempt < 40; attempt++) {
      const node = Math.floor(this.rand() * this.nodes.length)
      const proc = this.nodes[node]!
      if (alive(proc) && !proc.stopped) {
        const scope = Effect.runSync(Scope.make())
        const result = await Effect.runPromise(
          Effect.either(
            Scope.extend(Client.connect({ host: "127.0.0.1", port: proc.port, timeout: "15 seconds" }), scope)
          )
        )
        if (Either.isRight(result)) return { scope, client: result.right, node }
        await Effect.runPromise(Scope.close(scope, Exit.void))
      }
      await sleep(100)
    }
    return undefined
  }

  async drop() {
    if (this.conn !== undefined) await Effect.runPromise(Scope.close(this.conn.scope, Exit.void))
    this.conn = undefined
  }

  async call(
    make: (
      client: Client.Client
    ) => Effect.Effect<
      { readonly v?: number },
      Client.ClientError | Client.CommandFailed | typeof Refused.Type
    >
  ): Promise<Outcome> {
    this.conn ??= await this.connect()
    if (this.conn === undefined) return { kind: "unknown" }
    const result = await Effect.runPromise(Effect.either(make(this.conn.client)))
    if (Either.isRight(result))
      return { kind: "ok", ...(result.right.v !== undefined ? { v: result.right.v } : {}) }
    const e = result.left
    if (e._tag === "Exists" || e._tag === "Missing" || e._tag === "Stale")
      return { kind: "refused", tag: e._tag }
    // the connection broke, timed out, or the node could not complete the write: outcome unknown
    await this.drop()
    return { kind: "unknown" }
  }
}

// ---------------------------------------------------------------------------------------------
// the model: what was acknowledged, what was attempted without an answer

interface OwnRow {
  inserted: boolean
  acked: number | undefined
  /** Values sent after the last acknowledgement whose outcome is unknown (each may be applied). */
  unknown: Array<number>
}

interface Counter {
  acked: number
  unknown: number
}

interface Result {
  seed: number
  backend: Backend
  faults: Record<string, number>
  acked: number
  lost: number
  phantom: number
  lostUpdates: number
  notes: Array<string>
}

// ---------------------------------------------------------------------------------------------
// databases

const mariadbAdmin = () => Db.layer({ driver: "mysql", host: "127.0.0.1", user: "root", db: "test" })
const pgAdmin = () => Db.layer({ driver: "pg", host: "127.0.0.1", user: "postgres", db: "test" })

const dbOptionsOf = (backend: Backend, sqliteFile: string): Db.DbOptions =>
  backend === "mariadb"
    ? { driver: "mysql", host: "127.0.0.1", user: "root", db: CHAOS_DB, maxConnections: 4 }
    : backend === "pg"
      ? { driver: "pg", host: "127.0.0.1", user: "postgres", db: CHAOS_DB, maxConnections: 4 }
      : { driver: "sqlite", filename: sqliteFile }

const runSql = <A>(
  layer: Layer.Layer<SqlClient.SqlClient, unknown>,
  f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>
) =>
  Effect.runPromise(
    Effect.scoped(Effect.flatMap(SqlClient.SqlClient, f).pipe(Effect.provide(layer))) as Effect.Effect<
      A,
      unknown
    >
  )

const createDatabase = async (backend: Backend) => {
  if (backend === "mariadb") {
    await runSql(mariadbAdmin(), (sql) => sql.unsafe(`CREATE DATABASE IF NOT EXISTS ${CHAOS_DB}`))
  } else if (backend === "pg") {
    await runSql(pgAdmin(), (sql) =>
      Effect.gen(function* () {
        const have = yield* sql`SELECT 1 FROM pg_database WHERE datname = ${CHAOS_DB}`
        if (have.length === 0) yield* sql.unsafe(`CREATE DATABASE ${CHAOS_DB}`)
      })
    )
  }
}

/** Kills every connection to the chaos database but the admin's own. */
const killDbConnections = async (backend: Backend): Promise<number> => {
  if (backend === "mariadb") {
    return runSql(mariadbAdmin(), (sql) =>
      Effect.gen(function* () {
        const ids = yield* sql<{
          id: number
        }>`SELECT id FROM information_schema.processlist WHERE db = ${CHAOS_DB} AND id <> CONNECTION_ID()`
        for (const { id } of ids) yield* Effect.ignore(sql.unsafe(`KILL ${Number(id)}`))
        return ids.length
      })
    )
  }
  if (backend === "pg") {
    return runSql(pgAdmin(), (sql) =>
      Effect.map(
        sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${CHAOS_DB} AND pid <> pg_backend_pid()`,
        (rows) => rows.length
      )
    )
  }
  return 0
}

// ---------------------------------------------------------------------------------------------
// one round

const round = async (backend: Backend, seed: number): Promise<Result> => {
  const rand = prng(seed)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hotaru-chaos-"))
  const table = `chaos_${seed}_${Date.now().toString(36)}`
  const faults: Record<string, number> = { kill: 0, stop: 0, redis: 0, dbkill: 0 }
  const notes: Array<string> = []
  const embedded = backend === "embedded"
  await createDatabase(backend)
  const db = dbOptionsOf(backend, path.join(dir, "chaos.sqlite"))
  let redis: RedisServer | undefined
  const mem: Mem.MemOptions = embedded
    ? { driver: "memory", prefix: "chaos:" }
    : await (async () => {
        redis = await startRedisServer({ appendonly: "yes", appendfsync: "always" })
        return { driver: "redis" as const, url: redis.url, prefix: `${table}:` }
      })()
  const options: NodeOptions = { db, mem, table, flushIntervalMs: 500, leaseTtlMs }
  const nodes: Array<NodeProc> = Array.from({ length: embedded ? 1 : 2 }, () => ({
    child: undefined,
    port: 0,
    stopped: false,
    log: []
  }))
  const deadline = Date.now() + roundDeadlineMs
  try {
    for (const n of nodes) await startNode(options, n)

    // shared counters, inserted (and acknowledged) before the clients start
    const sharedIds = [1, 2, 3]
    const setup = new Worker(nodes, rand)
    for (const id of sharedIds) {
      const r = await setup.call((c) => c.call(Insert, { id, v: 0 }))
      if (r.kind !== "ok") throw new Error(`setup insert ${id} failed: ${JSON.stringify(r)}`)
    }
    await setup.drop()
    const counters = new Map<number, Counter>(sharedIds.map((id) => [id, { acked: 0, unknown: 0 }]))
    const own = new Map<number, OwnRow>()
    let acked = sharedIds.length
    let nextValue = 1

    // faults at seeded random times
    const schedule = Array.from({ length: faultCount }, () => Math.floor(rand() * faultWindowMs)).sort(
      (a, b) => a - b
    )
    const kinds = embedded ? ["kill"] : ["kill", "stop", "redis", "dbkill"]
    const faultRand = prng(seed ^ 0x9e3779b9)
    const injector = (async () => {
      const start = Date.now()
      for (const at of schedule) {
        const wait = start + at - Date.now()
        if (wait > 0) await sleep(wait)
        if (Date.now() > deadline) break
        const kind = kinds[Math.floor(faultRand() * kinds.length)]!
        const target = nodes[Math.floor(faultRand() * nodes.length)]!
        faults[kind] = (faults[kind] ?? 0) + 1
        if (kind === "kill") {
          await killNode(target)
          await sleep(200 + Math.floor(faultRand() * 800))
          await startNode(options, target)
        } else if (kind === "stop" && alive(target)) {
          target.child!.kill("SIGSTOP")
          target.stopped = true
          await sleep(stopMs)
          target.child!.kill("SIGCONT")
          target.stopped = false
        } else if (kind === "redis" && redis !== undefined) {
          await redis.kill()
          await sleep(300 + Math.floor(faultRand() * 700))
          await redis.start()
        } else if (kind === "dbkill") {
          await killDbConnections(backend)
        }
      }
    })()

    // clients
    const work = Array.from({ length: workers }, async (_, w) => {
      const wrand = prng(seed * 31 + w)
      const worker = new Worker(nodes, wrand)
      const ownIds = Array.from({ length: 12 }, (_, k) => 1000 * (w + 1) + k)
      for (let op = 0; op < opsPerWorker && Date.now() < deadline; op++) {
        const pick = wrand()
        if (pick < 0.35) {
          // compare-and-set increment of a shared counter (retried on Stale, a bounded number of times)
          const id = sharedIds[Math.floor(wrand() * sharedIds.length)]!
          const counter = counters.get(id)!
          for (let attempt = 0; attempt < 20; attempt++) {
            const r = await worker.call((c) => c.call(Cas, { id }))
            if (r.kind === "ok") {
              counter.acked++
              acked++
              break
            }
            if (r.kind === "unknown") {
              counter.unknown++
              break
            }
            await sleep(Math.floor(wrand() * 10))
          }
        } else {
          // insert or update one of this worker's own rows with a new, increasing value
          const id = ownIds[Math.floor(wrand() * ownIds.length)]!
          const row = own.get(id) ?? { inserted: false, acked: undefined, unknown: [] }
          own.set(id, row)
          const v = nextValue++
          const r = await worker.call((c) =>
            row.inserted ? c.call(SetValue, { id, v }) : c.call(Insert, { id, v })
          )
          if (r.kind === "ok") {
            row.inserted = true
            row.acked = v
            row.unknown = []
            acked++
          } else if (r.kind === "unknown") {
            row.unknown.push(v)
          } else if (r.tag === "Exists") {
            row.inserted = true // an earlier insert whose answer was lost did happen
          } else if (r.tag === "Missing") {
            row.inserted = false
          }
        }
      }
      await worker.drop()
    })
    await Promise.all([...work, injector])

    // faults over: everything running, then a clean stop of every node (the final flush)
    for (const n of nodes) {
      if (n.stopped && alive(n)) {
        n.child!.kill("SIGCONT")
        n.stopped = false
      }
      if (!alive(n)) await startNode(options, n)
    }
    if (!embedded) await sleep(1_500)
    for (const n of nodes) await termNode(n)
    if (!embedded) {
      // a node stopped while another held the lease may have left slots: one more node flushes them
      await startNode(options, nodes[0]!)
      await sleep(2_000)
      await termNode(nodes[0]!)
    }

    // check
    const verifyLayer = Db.layer(db)
    const rows = await runSql(
      verifyLayer,
      (sql) => sql<{ id: number; v: number }>`SELECT id, v FROM ${sql(table)}`
    )
    const inDb = new Map(rows.map((r) => [Number(r.id), Number(r.v)]))
    let lost = 0
    let phantom = 0
    let lostUpdates = 0
    for (const [id, row] of own) {
      const d = inDb.get(id)
      if (row.acked === undefined) {
        if (d !== undefined && !row.unknown.includes(d)) {
          phantom++
          notes.push(`row ${id}: ${d} was never sent`)
        }
        continue
      }
      if (d === undefined) {
        lost++
        notes.push(`row ${id}: acknowledged ${row.acked}, missing`)
      } else if (d !== row.acked && !row.unknown.includes(d)) {
        if (d < row.acked) {
          lost++
          notes.push(`row ${id}: acknowledged ${row.acked}, found older ${d}`)
        } else {
          phantom++
          notes.push(`row ${id}: acknowledged ${row.acked}, found ${d} never sent after it`)
        }
      }
    }
    for (const [id, counter] of counters) {
      const d = inDb.get(id) ?? 0
      if (d < counter.acked) {
        lostUpdates += counter.acked - d
        notes.push(`counter ${id}: ${counter.acked} increments acknowledged, ${d} in the database`)
      } else if (d > counter.acked + counter.unknown) {
        phantom++
        notes.push(`counter ${id}: ${d} > ${counter.acked} acknowledged + ${counter.unknown} unknown`)
      }
    }
    for (const id of inDb.keys()) {
      if (!own.has(id) && !counters.has(id)) {
        phantom++
        notes.push(`row ${id} was never written`)
      }
    }
    await runSql(verifyLayer, (sql) => Effect.ignore(sql`DROP TABLE ${sql(table)}`))
    return { seed, backend, faults, acked, lost, phantom, lostUpdates, notes }
  } finally {
    for (const n of nodes) await killNode(n)
    await redis?.dispose()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------

const main = async () => {
  const results: Array<Result> = []
  console.log(
    `chaos: backends ${backends.join(", ")}, ${rounds} round(s) each from seed ${firstSeed}, ${workers} clients x ${opsPerWorker} ops, ${faultCount} faults in ${faultWindowMs} ms`
  )
  for (const backend of backends) {
    for (let r = 0; r < rounds; r++) {
      const seed = firstSeed + r
      try {
        if (backend === "entities") {
          // the entity round (entities.ts): its counts mapped onto the table's columns
          const r = await entityRound({ seed, database: "hotaru_chaos_entities", progress: console.log })
          console.log(
            `  entities seed ${seed}: sent ${r.sent}, acknowledged ${r.acked}, stored ${r.stored}, ` +
              `duplicates ${r.duplicates}, mismatched ${r.mismatched}, gaps ${r.gaps}, ` +
              `unanswered rooms ${r.unanswered}, recovery ${r.recoveryMs} ms, ${r.elapsedMs} ms`
          )
          results.push({
            seed,
            backend,
            faults: { ...r.faults },
            acked: r.acked,
            lost: r.lost,
            phantom: violations(r) - r.lost,
            lostUpdates: 0,
            notes: [...r.notes]
          })
        } else results.push(await round(backend, seed))
      } catch (error) {
        console.error(`round ${backend} seed ${seed} failed to run: ${String(error)}`)
        results.push({
          seed,
          backend,
          faults: {},
          acked: 0,
          lost: 1,
          phantom: 0,
          lostUpdates: 0,
          notes: [String(error)]
        })
      }
      const last = results[results.length - 1]!
      for (const note of last.notes.slice(0, 10)) console.log(`  ${backend} seed ${seed}: ${note}`)
    }
  }
  console.log("")
  console.log(
    "| backend | seed | kill | stop | redis | dbkill | acknowledged | lost | phantom | lost updates |"
  )
  console.log("|---|---|---|---|---|---|---|---|---|---|")
  for (const r of results) {
    const f = (k: string) => r.faults[k] ?? 0
    console.log(
      `| ${r.backend} | ${r.seed} | ${f("kill")} | ${f("stop")} | ${f("redis")} | ${f("dbkill")} | ${r.acked} | ${r.lost} | ${r.phantom} | ${r.lostUpdates} |`
    )
  }
  const bad = results.reduce((n, r) => n + r.lost + r.phantom + r.lostUpdates, 0)
  const lost = results.reduce((n, r) => n + r.lost, 0)
  const totals = results.reduce((n, r) => n + r.acked, 0)
  console.log("")
  console.log(
    `rounds ${results.length}, acknowledged ${totals}, phantom ${results.reduce((n, r) => n + r.phantom, 0)}, lost updates ${results.reduce((n, r) => n + r.lostUpdates, 0)}`
  )
  console.log(`lost ${lost}`)
  process.exit(bad === 0 ? 0 : 1)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
