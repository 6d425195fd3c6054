/**
 * The repository's durability contract: the Redis/memcached check and its opt-in, poison rows
 * dead-lettered while later writes flush, a paused flusher fenced out, the sequence that cannot go
 * backwards, cached rows decoded before SQL, and atomic compare-and-delete on the caches.
 */

import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Db from "../src/Db.js"
import * as Mem from "../src/Mem.js"
import * as Repository from "../src/Repository.js"
import { connectable } from "./support/ports.js"
import { freePort, type RedisServer, startRedisServer } from "./support/redisServer.js"
import { needs, requireServiceEffect, uniqueName } from "./support/services.js"
import { waitFor } from "./support/wait.js"

const Item = Schema.Struct({ id: Schema.Int, name: Schema.String, score: Schema.Int })
type Item = typeof Item.Type

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hotaru-durable-"))

/** A fresh table with a UNIQUE name (dropped at the end of the scope). */
const makeTable = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const table = uniqueName("dur")
  yield* Effect.acquireRelease(
    sql`CREATE TABLE ${sql(table)} (id INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL UNIQUE, score INTEGER NOT NULL)`,
    () => Effect.ignore(sql`DROP TABLE ${sql(table)}`)
  )
  return table
})

const rowsInDb = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<Item>`SELECT id, name, score FROM ${sql(table)} ORDER BY id`, (rows) =>
      rows.map((r) => ({ id: Number(r.id), name: r.name, score: Number(r.score) }))
    )
  )

const open = (
  table: string,
  extra?: Partial<Repository.RepositoryOptions<Item, typeof Item.Encoded, "id">>
) =>
  Repository.make({
    table,
    schema: Item,
    primaryKey: "id",
    autoIncrement: true,
    flushInterval: "1 hour",
    ...extra
  })

const sqliteFile = () => Db.layer({ driver: "sqlite", filename: path.join(tmp, `${uniqueName("d")}.sqlite`) })
const writeBehindMemory = () => Mem.layerMemory({ prefix: `${uniqueName("m")}:`, durability: "accept-loss" })

describe("the durability contract of each cache", () => {
  let aof: RedisServer | undefined
  beforeAll(async () => {
    aof = await startRedisServer({ appendonly: "yes", appendfsync: "always" })
  }, 20_000)
  afterAll(async () => {
    await aof?.dispose()
  })

  const refusal = (mem: Layer.Layer<Mem.Mem, unknown>) =>
    Effect.gen(function* () {
      const table = yield* makeTable
      return yield* Effect.flip(open(table))
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(Db.layer({ driver: "sqlite", filename: ":memory:" }), mem))
    )

  it.live("a Redis with AOF (appendfsync always) and noeviction is accepted: write-behind", () =>
    Effect.gen(function* () {
      const table = yield* makeTable
      const repo = yield* open(table)
      expect(repo.mode).toBe("write-behind")
      yield* repo.insert({ name: "a", score: 1 })
      expect(yield* rowsInDb(table)).toEqual([])
      yield* repo.flush
      expect(yield* rowsInDb(table)).toEqual([{ id: 1, name: "a", score: 1 }])
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Layer.mergeAll(
          Db.layer({ driver: "sqlite", filename: ":memory:" }),
          Mem.layerRedis({ url: aof!.url, prefix: `${uniqueName("r")}:` })
        )
      )
    )
  )

  it.live("the shared Redis without AOF is refused, naming appendonly; the opt-in accepts it", () =>
    Effect.gen(function* () {
      yield* requireServiceEffect("redis")
      const refused = yield* refusal(Mem.layerRedis({ url: "redis://127.0.0.1:6379", prefix: "dur:" }))
      expect(refused._tag === "RepositoryError" && refused.reason).toBe("Durability")
      expect(refused.message).toContain("appendonly")
      expect(refused.message).toContain('"durability": "accept-loss"')
      const accepted = yield* Effect.gen(function* () {
        const table = yield* makeTable
        return (yield* open(table)).mode
      }).pipe(
        Effect.scoped,
        Effect.provide(
          Layer.mergeAll(
            Db.layer({ driver: "sqlite", filename: ":memory:" }),
            Mem.layerRedis({ url: "redis://127.0.0.1:6379", prefix: "dur:", durability: "accept-loss" })
          )
        )
      )
      expect(accepted).toBe("write-behind")
    })
  )

  it.live(
    "an evicting maxmemory-policy, appendfsync no, and a disabled CONFIG are refused, each named",
    () =>
      Effect.gen(function* () {
        const cases = [
          { options: { maxmemoryPolicy: "allkeys-lru" }, setting: "maxmemory-policy" },
          { options: { appendfsync: "no" as const }, setting: "appendfsync" },
          { options: { extraArgs: ["--rename-command", "CONFIG", ""] }, setting: "CONFIG" }
        ]
        for (const c of cases) {
          const server = yield* Effect.acquireRelease(
            Effect.promise(() => startRedisServer(c.options)),
            (s) => Effect.promise(() => s.dispose())
          )
          const refused = yield* refusal(Mem.layerRedis({ url: server.url }))
          expect(refused._tag === "RepositoryError" && refused.reason).toBe("Durability")
          expect(refused.message).toContain(c.setting)
        }
      }).pipe(Effect.scoped),
    30_000
  )

  it.live("the in-process cache is write-through when strict: the row is in the database at once", () =>
    Effect.gen(function* () {
      const table = yield* makeTable
      const repo = yield* open(table)
      expect(repo.mode).toBe("write-through")
      const a = yield* repo.insert({ name: "a", score: 1 })
      expect(yield* rowsInDb(table)).toEqual([a.value])
      yield* repo.modify(a.value.id, (r) => ({ ...r, score: 2 }))
      expect((yield* rowsInDb(table))[0]?.score).toBe(2)
      // a row the database refuses is not acknowledged (and not cached)
      const dup = yield* Effect.flip(repo.insert({ name: "a", score: 3 }))
      expect(dup._tag === "RepositoryError" && dup.reason).toBe("Rejected")
      expect(yield* repo.get(2)).toEqual(Option.none())
      expect(yield* repo.delete(a.value.id)).toBe(true)
      expect(yield* rowsInDb(table)).toEqual([])
      expect(yield* repo.pending).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(sqliteFile(), Mem.layerMemory())))
  )

  it.live("compare-and-delete and compare-and-expire are atomic on memory and Redis", () =>
    Effect.gen(function* () {
      for (const layer of [Mem.layerMemory(), Mem.layerRedis({ url: aof!.url, prefix: "cad:" })]) {
        yield* Effect.gen(function* () {
          const mem = yield* Mem.Mem
          yield* mem.set("lock", "mine", { ttl: "10 seconds" })
          expect(yield* mem.deleteIf("lock", "theirs")).toBe(false)
          expect(yield* mem.expireIf("lock", "theirs", "1 second")).toBe(false)
          expect(yield* mem.expireIf("lock", "mine", "20 seconds")).toBe(true)
          expect(yield* mem.get("lock")).toEqual(Option.some("mine"))
          expect(yield* mem.deleteIf("lock", "mine")).toBe(true)
          expect(yield* mem.get("lock")).toEqual(Option.none())
          expect(yield* mem.deleteIf("lock", "mine")).toBe(false)
        }).pipe(Effect.scoped, Effect.provide(layer))
      }
    })
  )
})

/** A private memcached on a free port (killed with the scope). */
const memcachedServer = Effect.acquireRelease(
  Effect.promise(async () => {
    const port = await freePort()
    const child = spawn(
      "memcached",
      ["-p", String(port), "-l", "127.0.0.1", "-U", "0", "-m", "16", "-u", "nobody"],
      {
        stdio: "ignore"
      }
    )
    // a missing binary fails the wait with spawn's error (not an unhandled one)
    let failed: Error | undefined
    child.once("error", (e) => {
      failed = e
    })
    await waitFor(
      "the private memcached to accept connections",
      async () => {
        if (failed) throw failed
        return connectable(port)
      },
      5_000,
      50
    )
    return { port, child }
  }),
  ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
)

describe("memcached (a private server)", () => {
  it.live("refused unless the config accepts loss; compare-and-delete/expire use cas", () =>
    Effect.gen(function* () {
      const { port } = yield* memcachedServer
      const urls = [`127.0.0.1:${port}`]
      const refused = yield* Effect.gen(function* () {
        const table = yield* makeTable
        return yield* Effect.flip(open(table))
      }).pipe(
        Effect.scoped,
        Effect.provide(
          Layer.mergeAll(
            Db.layer({ driver: "sqlite", filename: ":memory:" }),
            Mem.layerMemcached({ urls, hostname: "s" })
          )
        )
      )
      expect(refused._tag === "RepositoryError" && refused.reason).toBe("Durability")
      expect(refused.message).toContain("memcached evicts")
      yield* Effect.gen(function* () {
        const mem = yield* Mem.Mem
        const table = yield* makeTable
        const repo = yield* open(table)
        expect(repo.mode).toBe("write-behind")
        yield* repo.insert({ name: "m", score: 1 })
        yield* repo.flush
        expect(yield* rowsInDb(table)).toEqual([{ id: 1, name: "m", score: 1 }])
        yield* mem.set("lock", "mine", { ttl: "10 seconds" })
        expect(yield* mem.deleteIf("lock", "theirs")).toBe(false)
        expect(yield* mem.expireIf("lock", "theirs", "1 second")).toBe(false)
        expect(yield* mem.expireIf("lock", "mine", "20 seconds")).toBe(true)
        expect(yield* mem.get("lock")).toEqual(Option.some("mine"))
        expect(yield* mem.deleteIf("lock", "mine")).toBe(true)
        expect(yield* mem.get("lock")).toEqual(Option.none())
      }).pipe(
        Effect.scoped,
        Effect.provide(
          Layer.mergeAll(
            Db.layer({ driver: "sqlite", filename: ":memory:" }),
            Mem.layerMemcached({ urls, hostname: "a", durability: "accept-loss" })
          )
        )
      )
    }).pipe(Effect.scoped)
  )
})

const databases = [
  { name: "sqlite", services: [], layer: sqliteFile },
  {
    name: "mariadb",
    services: ["mariadb"],
    layer: () => Db.layer({ driver: "mysql", host: "127.0.0.1", user: "root", db: "test" })
  },
  {
    name: "postgres",
    services: ["postgres"],
    layer: () => Db.layer({ driver: "pg", host: "127.0.0.1", user: "postgres", db: "test" })
  }
] as const

for (const database of databases) {
  describe(`poison rows on ${database.name}`, () => {
    needs(...database.services)
    it.live(
      "7 writes, one violating UNIQUE: 6 stored, 1 dead-lettered and counted, later writes flush",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const table = yield* makeTable
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: 100, name: "taken", score: 0 })}`
          const repo = yield* open(table)
          // ids 101..107 (seeded from MAX(id)); the 4th takes a name the table already has
          for (let i = 0; i < 7; i++) yield* repo.insert({ name: i === 3 ? "taken" : `p${i}`, score: i })
          yield* repo.flush
          const rows = yield* rowsInDb(table)
          expect(rows.map((r) => r.name)).toEqual(["taken", "p0", "p1", "p2", "p4", "p5", "p6"])
          expect(yield* repo.deadLettered).toBe(1)
          // the node-wide count (what the master's /status shows per node) saw it too
          expect(yield* Effect.flatMap(Repository.DeadLetters, (d) => d.count)).toBe(1)
          expect(yield* repo.pending).toBe(0)
          const letters = yield* sql<{
            pk: string
            error: string
          }>`SELECT pk, error FROM ${sql(Repository.DEAD_LETTER_TABLE)} WHERE tbl = ${table}`
          expect(letters.map((l) => l.pk)).toEqual(["104"])
          expect(letters[0]?.error.length).toBeGreaterThan(0)
          // the refused row left the cache: reads see the database
          expect(yield* repo.get(104)).toEqual(Option.none())
          // later writes flush
          yield* repo.insert({ name: "later", score: 9 })
          yield* repo.modify(101, (r) => ({ ...r, score: 42 }))
          expect((yield* repo.flush).written).toBe(2)
          const after = yield* rowsInDb(table)
          expect(after.find((r) => r.name === "later")?.score).toBe(9)
          expect(after.find((r) => r.id === 101)?.score).toBe(42)
          yield* sql`DELETE FROM ${sql(Repository.DEAD_LETTER_TABLE)} WHERE tbl = ${table}`
        }).pipe(
          Effect.scoped,
          Effect.provide(
            Layer.mergeAll(
              database.layer(),
              writeBehindMemory(),
              Layer.effect(Repository.DeadLetters, Repository.makeDeadLetters)
            )
          )
        ),
      30_000
    )
  })
}

describe("row locks (MariaDB + write-behind memory cache)", () => {
  needs("mariadb")
  it.live("a row lock that expires during a slow database load lets no second writer commit", () =>
    Effect.gen(function* () {
      const mem = yield* Mem.Mem
      const sql = yield* SqlClient.SqlClient
      const table = yield* makeTable
      yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: 1, name: "r", score: 0 })}`
      const repo = yield* open(table)
      const lockKey = `repo:${table}:lock:1`
      const heldBy = Effect.map(mem.get(lockKey), Option.getOrUndefined)
      // another session write-locks the table: loads from it wait (the row is not cached)
      const blocker = yield* sql.reserve
      yield* blocker.executeRaw(`LOCK TABLES ${table} WRITE`, [])
      const a = yield* Effect.fork(Effect.either(repo.modify(1, (r) => ({ ...r, score: r.score + 1 }))))
      const tokenA = yield* heldBy.pipe(
        Effect.flatMap((t) => (t === undefined ? Effect.fail("not yet") : Effect.succeed(t))),
        Effect.retry({ times: 200, schedule: Schedule.spaced("10 millis") })
      )
      // A's lock runs out while A waits on the database (simulated expiry); B takes the lock
      yield* mem.delete(lockKey)
      const b = yield* Effect.fork(Effect.either(repo.modify(1, (r) => ({ ...r, score: r.score + 1 }))))
      yield* heldBy.pipe(
        Effect.flatMap((t) => (t === undefined || t === tokenA ? Effect.fail("not yet") : Effect.succeed(t))),
        Effect.retry({ times: 200, schedule: Schedule.spaced("10 millis") })
      )
      yield* blocker.executeRaw("UNLOCK TABLES", [])
      const [ra, rb] = [yield* Fiber.join(a), yield* Fiber.join(b)]
      // A lost its lock: its write is refused (not acknowledged); B's is the only one
      expect(ra._tag === "Left" && ra.left.reason).toBe("LockTimeout")
      expect(rb._tag === "Right" && rb.right.value.score).toBe(1)
      yield* repo.flush
      expect((yield* rowsInDb(table))[0]?.score).toBe(1)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Layer.mergeAll(
          Db.layer({ driver: "mysql", host: "127.0.0.1", user: "root", db: "test" }),
          writeBehindMemory()
        )
      )
    )
  )
})

describe("fencing, the sequence, decoding (SQLite + write-behind memory cache)", () => {
  const env = () => Layer.mergeAll(sqliteFile(), writeBehindMemory())

  it.live("a paused flusher whose lease was taken over cannot overwrite the newer row", () =>
    Effect.gen(function* () {
      const mem = yield* Mem.Mem
      const table = yield* makeTable
      const paused = yield* Deferred.make<void>()
      const resume = yield* Deferred.make<void>()
      const first = yield* Ref.make(true)
      // node A pauses after reading its batch (as a SIGSTOPped process would, renewal included)
      const pauseOnce = Effect.gen(function* () {
        if (!(yield* Ref.getAndSet(first, false))) return
        yield* Deferred.succeed(paused, undefined)
        yield* Deferred.await(resume)
      })
      const nodeA = yield* open(table, { beforeFlushWrite: pauseOnce, leaseTtl: "1 hour" })
      const nodeB = yield* open(table)
      const row = yield* nodeA.insert({ name: "shared", score: 1 })
      const flushA = yield* Effect.fork(nodeA.flush)
      yield* Deferred.await(paused) // A holds score 1 in hand
      yield* nodeB.modify(row.value.id, (r) => ({ ...r, score: 2 }))
      // A's lease runs out while it is paused; B takes the lease (a newer token) and flushes
      expect(yield* mem.delete(`repo:${table}:flusher`)).toBe(true)
      yield* nodeB.flush
      expect(yield* rowsInDb(table)).toEqual([{ id: row.value.id, name: "shared", score: 2 }])
      // A wakes up: its write of score 1 is fenced out, nothing of its batch is applied
      yield* Deferred.succeed(resume, undefined)
      yield* Fiber.join(flushA)
      expect(yield* rowsInDb(table)).toEqual([{ id: row.value.id, name: "shared", score: 2 }])
      expect(Option.map(yield* nodeA.get(row.value.id), (r) => r.score)).toEqual(Option.some(2))
      expect(yield* nodeA.pending).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(env()))
  )

  it.live("a flusher that loses its lease while a batch runs is stopped by its renewal", () =>
    Effect.gen(function* () {
      const mem = yield* Mem.Mem
      const table = yield* makeTable
      const paused = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const first = yield* Ref.make(true)
      const stall = Effect.gen(function* () {
        if (!(yield* Ref.getAndSet(first, false))) return
        yield* Deferred.succeed(paused, undefined)
        yield* Effect.never
      }).pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
      const repo = yield* open(table, { beforeFlushWrite: stall, leaseTtl: "300 millis" })
      yield* repo.insert({ name: "x", score: 1 })
      const flushing = yield* Effect.fork(repo.flush)
      yield* Deferred.await(paused)
      // someone else holds the lease now (it expired and was taken): the renewal notices
      yield* mem.delete(`repo:${table}:flusher`)
      yield* mem.set(`repo:${table}:flusher`, "another node", { ttl: "1 second" })
      yield* Deferred.await(interrupted).pipe(Effect.timeout("3 seconds"))
      // once the other lease expires, the flush goes on and writes the row
      yield* Fiber.join(flushing).pipe(Effect.timeout("10 seconds"))
      expect(yield* rowsInDb(table)).toEqual([{ id: 1, name: "x", score: 1 }])
    }).pipe(Effect.scoped, Effect.provide(env()))
  )

  it.live("the journal sequence cannot go backwards: a lost counter is re-seeded past done", () =>
    Effect.gen(function* () {
      const mem = yield* Mem.Mem
      const table = yield* makeTable
      const repo = yield* open(table)
      yield* repo.insert({ name: "a", score: 0 })
      yield* repo.insert({ name: "b", score: 0 })
      yield* repo.flush
      // the cache loses the sequence counter (a memcached eviction)
      yield* mem.delete(`repo:${table}:seq`)
      yield* repo.insert({ name: "c", score: 0 })
      expect(Number(Option.getOrThrow(yield* mem.get(`repo:${table}:seq`)))).toBeGreaterThan(2)
      yield* repo.flush
      expect((yield* rowsInDb(table)).map((r) => r.name)).toEqual(["a", "b", "c"])
      // a new repository seeds both counters from the database's fence row
      yield* mem.delete(`repo:${table}:seq`)
      yield* mem.delete(`repo:${table}:done`)
      const again = yield* open(table)
      yield* again.insert({ name: "d", score: 0 })
      yield* again.flush
      expect((yield* rowsInDb(table)).map((r) => r.name)).toEqual(["a", "b", "c", "d"])
    }).pipe(Effect.scoped, Effect.provide(env()))
  )

  it.live("a cached row that does not decode with the schema is dead-lettered, never written", () =>
    Effect.gen(function* () {
      const mem = yield* Mem.Mem
      const sql = yield* SqlClient.SqlClient
      const table = yield* makeTable
      const repo = yield* open(table)
      yield* repo.insert({ name: "good", score: 1 })
      // a corrupt dirty row in the cache (another writer, a bug), journaled
      yield* mem.set(
        `repo:${table}:row:9`,
        JSON.stringify({ v: "x", s: "d", d: { id: 9, name: "bad", score: "not a number" } })
      )
      const n = yield* mem.incr(`repo:${table}:seq`)
      yield* mem.set(`repo:${table}:j:${n}`, "9")
      yield* repo.flush
      expect((yield* rowsInDb(table)).map((r) => r.name)).toEqual(["good"])
      expect(yield* repo.deadLettered).toBe(1)
      const letters = yield* sql<{
        pk: string
      }>`SELECT pk FROM ${sql(Repository.DEAD_LETTER_TABLE)} WHERE tbl = ${table}`
      expect(letters.map((l) => l.pk)).toEqual(["9"])
    }).pipe(Effect.scoped, Effect.provide(env()))
  )
})
