/**
 * Reading rows (cache first, else the database, then cached), committing a changed entry, and the
 * foreign-key index.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { makeFence } from "./fence.js"
import type { makeJournal } from "./journal.js"
import type { makeLocks } from "./locks.js"
import { type Ctx, type Entry, newVersion } from "./repositoryContext.js"
import { type RepositoryError, type Versioned } from "./repositoryModel.js"
import type { makeSqlRows } from "./sqlDialect.js"

export interface RowParts {
  readonly locks: ReturnType<typeof makeLocks>
  readonly journal: ReturnType<typeof makeJournal>
  readonly rows: ReturnType<typeof makeSqlRows>
  readonly fence: ReturnType<typeof makeFence>
}

export const makeRows = <A>(ctx: Ctx<A>, parts: RowParts, writeThrough: boolean) => {
  const { sql, mem, table, keys, idleTimeout, pkColumn, fkColumn, m, q, fail } = ctx
  const { decodeRow, normalize, keyOf, encodeKey } = ctx
  const { withLock } = parts.locks
  const { readEntry, writeEntry, journal } = parts.journal
  const { writeThroughRow } = parts.rows
  const loadFromDb = (
    pk: string,
    encodedKey: unknown
  ): Effect.Effect<Option.Option<Entry>, RepositoryError> =>
    Effect.gen(function* () {
      const rows = yield* q(
        sql<Record<string, unknown>>`SELECT * FROM ${sql(table)} WHERE ${sql(pkColumn)} = ${encodedKey}`
      )
      if (rows.length === 0) return Option.none()
      const d = yield* normalize(rows[0])
      if (keyOf(d) !== pk) return yield* fail("InvalidRow", `row loaded for key ${pk} has key ${keyOf(d)}`)
      return Option.some<Entry>({ v: newVersion(), s: "c", d })
    })

  /** The current entry: from the cache, else loaded from the database and cached (`add`). */
  const current = (key: unknown) =>
    Effect.gen(function* () {
      const encodedKey = yield* encodeKey(key)
      const pk = String(encodedKey)
      const cached = yield* readEntry(pk)
      if (Option.isSome(cached)) {
        if (cached.value.s === "c") yield* m(mem.expire(keys.row(pk), idleTimeout))
        return { pk, encodedKey, entry: cached }
      }
      const loaded = yield* loadFromDb(pk, encodedKey)
      if (Option.isNone(loaded)) return { pk, encodedKey, entry: loaded }
      const added = yield* m(mem.add(keys.row(pk), JSON.stringify(loaded.value), { ttl: idleTimeout }))
      // Somebody cached (or wrote) the row meanwhile: theirs is newer or equal.
      return { pk, encodedKey, entry: added ? loaded : yield* readEntry(pk) }
    })

  /** The entry of a row that exists (not a tombstone). */
  const live = (entry: Option.Option<Entry>): Option.Option<Entry> =>
    Option.filter(entry, (e) => e.s !== "x" && e.d !== null)

  const toVersioned = (entry: Entry) =>
    Effect.map(decodeRow(entry.d), (value): Versioned<A> => ({ value, version: entry.v }))

  /**
   * Writes a changed entry (under the row lock): journal first if the row was clean. Not
   * interruptible, so an interrupted writer leaves no journal slot without its row.
   */
  const commit = (
    pk: string,
    before: Option.Option<Entry>,
    after: Entry,
    held: Effect.Effect<void, RepositoryError>
  ) =>
    Effect.uninterruptible(
      Effect.gen(function* () {
        yield* held
        if (writeThrough) {
          // The database first: the write is acknowledged only once it is committed there.
          yield* writeThroughRow(after)
          if (after.s === "x") yield* m(mem.delete(keys.row(pk)))
          else yield* writeEntry(pk, { ...after, s: "c" })
          return
        }
        if (Option.isNone(before) || before.value.s === "c") yield* journal(pk)
        yield* writeEntry(pk, after)
      })
    )

  // -- foreign-key index ------------------------------------------------------------------

  const indexAdd = (fkValue: unknown, encodedKey: unknown) =>
    fkColumn === undefined
      ? Effect.void
      : withLock(keys.fkLock(String(fkValue)), () =>
          Effect.gen(function* () {
            const list = yield* indexRead(fkValue)
            if (!list.some((k) => String(k) === String(encodedKey))) list.push(encodedKey)
            yield* m(mem.set(keys.fk(String(fkValue)), JSON.stringify(list), { ttl: idleTimeout }))
          })
        )
  const indexRead = (fkValue: unknown): Effect.Effect<Array<unknown>, RepositoryError> =>
    Effect.gen(function* () {
      const raw = yield* m(mem.get(keys.fk(String(fkValue))))
      if (Option.isSome(raw)) return JSON.parse(raw.value) as Array<unknown>
      const rows = yield* q(
        sql<
          Record<string, unknown>
        >`SELECT ${sql(pkColumn)} FROM ${sql(table)} WHERE ${sql(fkColumn!)} = ${fkValue}`
      )
      return rows.map((r) => r[pkColumn])
    })
  const getVersioned = (key: unknown) =>
    Effect.flatMap(current(key), ({ entry }) => {
      const e = live(entry)
      return Option.isNone(e) ? Effect.succeedNone : Effect.map(toVersioned(e.value), Option.some)
    })

  const get = (key: unknown) =>
    Effect.map(
      getVersioned(key),
      Option.map((v) => v.value)
    )

  const getByForeignKey = (value: unknown) =>
    Effect.gen(function* () {
      if (fkColumn === undefined) return yield* fail("InvalidRow", "no foreignKey was declared")
      const list = yield* indexRead(value)
      yield* m(mem.set(keys.fk(String(value)), JSON.stringify(list), { ttl: idleTimeout }))
      const rows = yield* Effect.forEach(list, (k) => getVersioned(k), { concurrency: 16 })
      const out: Array<A> = []
      for (const row of rows) {
        if (
          Option.isSome(row) &&
          String((row.value.value as Record<string, unknown>)[fkColumn]) === String(value)
        ) {
          out.push(row.value.value)
        }
      }
      return out
    })

  const seedCounter = Effect.gen(function* () {
    const rows = yield* q(sql<{ m: unknown }>`SELECT MAX(${sql(pkColumn)}) AS m FROM ${sql(table)}`)
    const max = Number(rows[0]?.m ?? 0)
    return Number.isFinite(max) ? max : 0
  })

  const allocateKey = Effect.gen(function* () {
    const n = yield* m(mem.incr(keys.id))
    if (n !== 1) return n
    // The counter was absent: a fresh table, or a cache that lost the key. Ask the database.
    const max = yield* seedCounter
    return max === 0 ? n : yield* m(mem.incr(keys.id, max))
  })
  return { current, live, toVersioned, commit, indexAdd, getVersioned, get, getByForeignKey, allocateKey }
}
