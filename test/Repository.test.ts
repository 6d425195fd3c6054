import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Db from "../src/Db.js"
import * as Mem from "../src/Mem.js"
import * as Repository from "../src/Repository.js"
import { needs, uniqueName } from "./support/services.js"

const Item = Schema.Struct({ id: Schema.Int, owner: Schema.Int, name: Schema.String, score: Schema.Int })
type Item = typeof Item.Type

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hotaru-repo-"))

const databases = [
  {
    name: "sqlite",
    services: [],
    options: (): Db.DbOptions => ({ driver: "sqlite", filename: path.join(tmp, `${uniqueName("r")}.sqlite`) })
  },
  {
    name: "mariadb",
    services: ["mariadb"],
    options: (): Db.DbOptions => ({ driver: "mysql", host: "127.0.0.1", user: "root", db: "test" })
  },
  {
    name: "postgres",
    services: ["postgres"],
    options: (): Db.DbOptions => ({ driver: "pg", host: "127.0.0.1", user: "postgres", db: "test" })
  }
] as const

const caches = [
  {
    name: "memory",
    services: [],
    layer: () => Mem.layerMemory({ prefix: `${uniqueName("rm")}:`, durability: "accept-loss" })
  },
  {
    name: "redis",
    services: ["redis"],
    // the machine's shared Redis runs without AOF: these tests accept that (durability is tested below)
    layer: () =>
      Mem.layerRedis({
        url: "redis://127.0.0.1:6379",
        prefix: `${uniqueName("rm")}:`,
        durability: "accept-loss"
      })
  },
  {
    name: "memcached",
    services: ["memcached"],
    layer: () =>
      Mem.layerMemcached({ urls: ["127.0.0.1:11211"], hostname: uniqueName("rm"), durability: "accept-loss" })
  }
] as const

/** A fresh table (dropped at the end of the scope). */
const makeTable = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const table = uniqueName("items")
  yield* Effect.acquireRelease(
    sql`CREATE TABLE ${sql(table)} (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL, name VARCHAR(255) NOT NULL, score INTEGER NOT NULL)`,
    () => Effect.ignore(sql`DROP TABLE ${sql(table)}`)
  )
  return table
})

const rowsInDb = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<Item>`SELECT id, owner, name, score FROM ${sql(table)} ORDER BY id`, (rows) =>
      rows.map((r) => ({ id: Number(r.id), owner: Number(r.owner), name: r.name, score: Number(r.score) }))
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
    foreignKey: "owner",
    flushInterval: "1 hour",
    idleTimeout: "2 hours",
    ...extra
  })

const injections = [
  "'; DROP TABLE items; --",
  `Robert'); DROP TABLE students;--`,
  `" OR "1"="1`,
  "\\'; SELECT 1; --",
  "x' WHERE 1=1 --",
  "名前 ✓ 🎮"
]

for (const database of databases) {
  for (const cache of caches) {
    describe(`Repository on ${database.name} + ${cache.name}`, () => {
      needs(...database.services, ...cache.services)
      const env = () => Layer.mergeAll(Db.layer(database.options()), cache.layer())
      const run = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient | Mem.Mem | Scope.Scope>) =>
        effect.pipe(Effect.scoped, Effect.provide(env()))

      it.live("insert caches at once and writes to the database on flush (ids allocated)", () =>
        run(
          Effect.gen(function* () {
            const table = yield* makeTable
            const repo = yield* open(table)
            const a = yield* repo.insert({ owner: 1, name: "ann", score: 10 })
            const b = yield* repo.insert({ owner: 1, name: "bob", score: 20 })
            expect([a.value.id, b.value.id]).toEqual([1, 2])
            expect(yield* repo.get(2)).toEqual(Option.some({ id: 2, owner: 1, name: "bob", score: 20 }))
            expect(yield* rowsInDb(table)).toEqual([])
            expect(yield* repo.pending).toBe(2)
            expect((yield* repo.flush).written).toBe(2)
            expect(yield* repo.pending).toBe(0)
            expect(yield* rowsInDb(table)).toEqual([a.value, b.value])
            expect((yield* repo.flush).written).toBe(0)
          })
        )
      )

      it.live("update is a compare-and-set: a stale version fails with Conflict; modify never loses", () =>
        run(
          Effect.gen(function* () {
            const table = yield* makeTable
            const repo = yield* open(table)
            const v1 = yield* repo.insert({ owner: 1, name: "ann", score: 0 })
            const v2 = yield* repo.update({ ...v1, value: { ...v1.value, score: 1 } })
            expect(v2.version).not.toBe(v1.version)
            const stale = yield* Effect.flip(repo.update({ ...v1, value: { ...v1.value, score: 99 } }))
            expect(stale._tag).toBe("Conflict")
            const m = yield* repo.modify(1, (r) => ({ ...r, score: r.score + 10 }))
            expect(m.value.score).toBe(11)
            yield* repo.flush
            expect((yield* rowsInDb(table))[0]?.score).toBe(11)
            const missing = yield* Effect.flip(repo.modify(42, (r) => r))
            expect(missing._tag === "RepositoryError" && missing.reason).toBe("NotFound")
          })
        )
      )

      it.live("delete hides the row at once and deletes it on flush", () =>
        run(
          Effect.gen(function* () {
            const table = yield* makeTable
            const repo = yield* open(table)
            yield* repo.insert({ owner: 1, name: "ann", score: 0 })
            yield* repo.insert({ owner: 1, name: "bob", score: 0 })
            yield* repo.flush
            expect(yield* repo.delete(1)).toBe(true)
            expect(yield* repo.delete(1)).toBe(false)
            expect(yield* repo.get(1)).toEqual(Option.none())
            expect((yield* rowsInDb(table)).length).toBe(2)
            yield* repo.flush
            expect((yield* rowsInDb(table)).map((r) => r.name)).toEqual(["bob"])
            expect(yield* repo.get(1)).toEqual(Option.none())
            // insert then delete before any flush: nothing reaches the database
            const c = yield* repo.insert({ owner: 1, name: "cid", score: 0 })
            yield* repo.delete(c.value.id, c.version)
            yield* repo.flush
            expect((yield* rowsInDb(table)).map((r) => r.name)).toEqual(["bob"])
          })
        )
      )

      it.live(
        "get loads a missing row from the database and caches it; the counter is seeded from MAX(id)",
        () =>
          run(
            Effect.gen(function* () {
              const sql = yield* SqlClient.SqlClient
              const table = yield* makeTable
              yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: 7, owner: 3, name: "old", score: 5 })}`
              const repo = yield* open(table)
              expect(yield* repo.get(7)).toEqual(Option.some({ id: 7, owner: 3, name: "old", score: 5 }))
              yield* sql`UPDATE ${sql(table)} SET name = ${"changed behind"} WHERE id = ${7}`
              expect(Option.map(yield* repo.get(7), (r) => r.name)).toEqual(Option.some("old"))
              expect(yield* repo.get(8)).toEqual(Option.none())
              expect((yield* repo.insert({ owner: 3, name: "new", score: 0 })).value.id).toBe(8)
              const dup = yield* Effect.flip(repo.insert({ id: 7, owner: 3, name: "dup", score: 0 }))
              expect(dup._tag === "RepositoryError" && dup.reason).toBe("DuplicateKey")
            })
          )
      )

      it.live("SQL-injection strings are stored verbatim", () =>
        run(
          Effect.gen(function* () {
            const table = yield* makeTable
            const repo = yield* open(table)
            for (const name of injections) yield* repo.insert({ owner: 1, name, score: 0 })
            yield* repo.flush
            expect((yield* rowsInDb(table)).map((r) => r.name)).toEqual(injections)
          })
        )
      )

      it.live("two nodes: concurrent modify loses nothing, one CAS of two wins, either node flushes", () =>
        run(
          Effect.gen(function* () {
            const table = yield* makeTable
            const nodeA = yield* open(table)
            const nodeB = yield* open(table)
            const row = yield* nodeA.insert({ owner: 1, name: "shared", score: 0 })
            yield* Effect.all(
              Array.from({ length: 40 }, (_, i) =>
                (i % 2 === 0 ? nodeA : nodeB).modify(row.value.id, (r) => ({ ...r, score: r.score + 1 }))
              ),
              { concurrency: "unbounded" }
            )
            const now = Option.getOrThrow(yield* nodeB.getVersioned(row.value.id))
            expect(now.value.score).toBe(40)
            const results = yield* Effect.all(
              [
                Effect.either(nodeA.update({ ...now, value: { ...now.value, name: "by A" } })),
                Effect.either(nodeB.update({ ...now, value: { ...now.value, name: "by B" } }))
              ],
              { concurrency: "unbounded" }
            )
            expect(results.filter((r) => r._tag === "Right")).toHaveLength(1)
            expect(results.filter((r) => r._tag === "Left" && r.left._tag === "Conflict")).toHaveLength(1)
            // nodeA wrote; nodeB flushes it
            expect((yield* nodeB.flush).written).toBe(1)
            expect(yield* nodeA.pending).toBe(0)
            const inDb = yield* rowsInDb(table)
            expect(inDb[0]?.score).toBe(40)
            expect(["by A", "by B"]).toContain(inDb[0]?.name)
          })
        )
      )

      it.live("closing the scope (clean stop) flushes; the background flusher flushes on its interval", () =>
        run(
          Effect.gen(function* () {
            const table = yield* makeTable
            yield* Effect.scoped(
              Effect.flatMap(open(table), (repo) => repo.insert({ owner: 2, name: "at stop", score: 0 }))
            )
            expect((yield* rowsInDb(table)).map((r) => r.name)).toEqual(["at stop"])
            const repo = yield* open(table, { flushInterval: "200 millis", idleTimeout: "1 hour" })
            yield* repo.insert({ owner: 2, name: "background", score: 0 })
            const seen = yield* rowsInDb(table).pipe(
              Effect.filterOrFail((rows) => rows.length === 2),
              Effect.retry(Schedule.spaced("50 millis")),
              Effect.timeout("5 seconds")
            )
            expect(seen.map((r) => r.name)).toEqual(["at stop", "background"])
          })
        )
      )

      it.live(
        "clean rows idle longer than idleTimeout leave the cache; dirty rows stay until flushed",
        () =>
          run(
            Effect.gen(function* () {
              const mem = yield* Mem.Mem
              const table = yield* makeTable
              // (memcached ttls have a one-second granularity: keep the margins wide)
              const repo = yield* open(table, { flushInterval: "400 millis", idleTimeout: "2 seconds" })
              yield* repo.insert({ owner: 1, name: "stay", score: 0 })
              // dirty: no ttl, so it is still there until the background flusher has written it
              yield* rowsInDb(table).pipe(
                Effect.filterOrFail((rows) => rows.length === 1),
                Effect.retry(Schedule.spaced("50 millis")),
                Effect.timeout("5 seconds")
              )
              expect(Option.isSome(yield* mem.get(`repo:${table}:row:1`))).toBe(true)
              // clean now: gone once its idle ttl has run (2 s, memcached's whole seconds: ≤ 3 s)
              const cleanAt = Date.now()
              yield* mem
                .get(`repo:${table}:row:1`)
                .pipe(
                  Effect.filterOrFail(Option.isNone),
                  Effect.retry(Schedule.spaced("100 millis")),
                  Effect.timeout("5 seconds")
                )
              // not at once: the ttl ran (memcached may end a 2-s ttl a second early)
              expect(Date.now() - cleanAt).toBeGreaterThanOrEqual(500)
              expect(Option.map(yield* repo.get(1), (r) => r.name)).toEqual(Option.some("stay"))
            })
          ),
        15_000
      )

      it.live("two flushers at once: the lease lets one batch through at a time, each row written once", () =>
        run(
          Effect.gen(function* () {
            const table = yield* makeTable
            const nodeA = yield* open(table, { batchSize: 40 })
            const nodeB = yield* open(table, { batchSize: 40 })
            yield* Effect.forEach(
              Array.from({ length: 300 }, (_, i) => i),
              (i) => (i % 2 === 0 ? nodeA : nodeB).insert({ owner: i % 7, name: `n${i}`, score: i }),
              { concurrency: 16, discard: true }
            )
            const [a, b] = yield* Effect.all([nodeA.flush, nodeB.flush], { concurrency: "unbounded" })
            expect(a.written + b.written).toBe(300)
            const rows = yield* rowsInDb(table)
            expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1))
            expect(new Set(rows.map((r) => r.name)).size).toBe(300)
          })
        )
      )

      it.live("getByForeignKey lists unflushed and flushed rows of one owner", () =>
        run(
          Effect.gen(function* () {
            const table = yield* makeTable
            const repo = yield* open(table)
            yield* repo.insert({ owner: 7, name: "a", score: 0 })
            yield* repo.flush
            yield* repo.insert({ owner: 7, name: "b", score: 0 })
            yield* repo.insert({ owner: 8, name: "c", score: 0 })
            yield* repo.modify(3, (r) => ({ ...r, owner: 7 }))
            const names = (yield* repo.getByForeignKey(7)).map((r) => r.name).sort()
            expect(names).toEqual(["a", "b", "c"])
            yield* repo.delete(1)
            expect((yield* repo.getByForeignKey(7)).map((r) => r.name).sort()).toEqual(["b", "c"])
            expect(yield* repo.getByForeignKey(8)).toEqual([])
          })
        )
      )
    })
  }
}

describe("Repository (sqlite + memory)", () => {
  const sqliteMemory = () =>
    Layer.mergeAll(
      Db.layer({ driver: "sqlite", filename: ":memory:" }),
      Mem.layerMemory({ prefix: "t:", durability: "accept-loss" })
    )

  it.scoped(
    "a journal slot whose writer died (allocated, never written) is skipped after the hole timeout",
    () =>
      Effect.gen(function* () {
        const mem = yield* Mem.Mem
        const table = yield* makeTable
        const repo = yield* open(table, { lockTimeout: "1 second" })
        yield* repo.insert({ owner: 1, name: "before", score: 0 })
        yield* mem.incr(`repo:${table}:seq`) // a writer died between `incr` and writing its slot
        yield* repo.insert({ owner: 1, name: "after", score: 0 })
        expect(yield* repo.pending).toBe(3)
        // the TestClock drives the wait: the flush is blocked by the hole until 10 s (lock ttl) pass
        const flushing = yield* Effect.fork(repo.flush)
        yield* TestClock.adjust("5 seconds")
        expect((yield* rowsInDb(table)).map((r) => r.name)).toEqual(["before"])
        expect(flushing.unsafePoll()).toBe(null)
        for (let i = 0; i < 20 && flushing.unsafePoll() === null; i++) yield* TestClock.adjust("1 second")
        yield* Fiber.join(flushing)
        expect((yield* rowsInDb(table)).map((r) => r.name)).toEqual(["before", "after"])
        expect(yield* repo.pending).toBe(0)
      }).pipe(Effect.provide(sqliteMemory()))
  )

  it.live("a lock left by a crashed writer expires; a live one makes writers wait", () =>
    Effect.gen(function* () {
      const mem = yield* Mem.Mem
      const table = yield* makeTable
      const repo = yield* open(table, { lockTimeout: "300 millis" })
      const row = yield* repo.insert({ owner: 1, name: "a", score: 0 })
      yield* mem.set(`repo:${table}:lock:${row.value.id}`, "someone else", { ttl: "1 second" })
      const timedOut = yield* Effect.flip(repo.modify(row.value.id, (r) => ({ ...r, score: 1 })))
      expect(timedOut._tag === "RepositoryError" && timedOut.reason).toBe("LockTimeout")
      yield* Effect.sleep("1100 millis")
      expect((yield* repo.modify(row.value.id, (r) => ({ ...r, score: 2 }))).value.score).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(sqliteMemory()))
  )

  it.live("rejects unknown key columns", () =>
    Effect.gen(function* () {
      const table = yield* makeTable
      const e2 = yield* Effect.flip(Repository.make({ table, schema: Item, primaryKey: "nope" as "id" }))
      expect(e2.message).toContain("nope")
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(Db.layer({ driver: "sqlite", filename: ":memory:" }), Mem.layerMemory()))
    )
  )
})
