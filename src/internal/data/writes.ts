/**
 * The writes of a repository: insert, compare-and-set update, read-modify-write, delete — each
 * under the row lock.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type Ctx, type Entry, newVersion } from "./repositoryContext.js"
import { Conflict, type RepositoryError, type Versioned } from "./repositoryModel.js"
import type { makeRows, RowParts } from "./rows.js"

export const makeWrites = <A, K extends keyof A & string>(
  ctx: Ctx<A>,
  parts: RowParts,
  r0: ReturnType<typeof makeRows<A>>
) => {
  const { table, keys, pkColumn, fkColumn, options, fail } = ctx
  const { encodeRow, decodeRow, keyOf, encodeKey } = ctx
  const { withLock } = parts.locks
  const { readEntry } = parts.journal
  const { current, live, toVersioned, commit, indexAdd, allocateKey } = r0
  const insert = (input: Omit<A, K> & Partial<Pick<A, K>>) =>
    Effect.gen(function* () {
      const given = (input as Record<string, unknown>)[pkColumn]
      const allocated = given === undefined
      if (allocated && options.autoIncrement !== true) {
        return yield* fail("InvalidRow", `insert without a primary key "${pkColumn}" (no autoIncrement)`)
      }
      const keyValue = allocated ? yield* allocateKey : given
      const d = yield* encodeRow({ ...input, [pkColumn]: keyValue } as unknown as A)
      const pk = keyOf(d)
      const entry: Entry = { v: newVersion(), s: "d", d }
      yield* withLock(keys.lock(pk), (held) =>
        Effect.gen(function* () {
          const before = allocated ? yield* readEntry(pk) : (yield* current(keyValue)).entry
          if (Option.isSome(live(before))) return yield* fail("DuplicateKey", `a row with key ${pk} exists`)
          yield* commit(pk, before, entry, held)
        })
      )
      if (fkColumn !== undefined) yield* indexAdd(d[fkColumn], d[pkColumn])
      return yield* toVersioned(entry)
    })

  const replaceWith = (
    pk: string,
    before: Option.Option<Entry>,
    value: A,
    held: Effect.Effect<void, RepositoryError>
  ) =>
    Effect.gen(function* () {
      const d = yield* encodeRow(value)
      if (keyOf(d) !== pk)
        return yield* fail("InvalidRow", `the primary key cannot change (${pk} → ${keyOf(d)})`)
      const entry: Entry = { v: newVersion(), s: "d", d }
      yield* commit(pk, before, entry, held)
      const old = Option.isSome(before) ? before.value.d : null
      return {
        entry,
        fkChanged: fkColumn !== undefined && old !== null && String(old[fkColumn]) !== String(d[fkColumn])
      }
    })

  const afterWrite = (r: { readonly entry: Entry; readonly fkChanged: boolean }) =>
    Effect.gen(function* () {
      if (r.fkChanged && fkColumn !== undefined) yield* indexAdd(r.entry.d![fkColumn], r.entry.d![pkColumn])
      return yield* toVersioned(r.entry)
    })

  const notFound = (pk: string) => fail("NotFound", `no row with key ${pk}`)

  const update = (row: Versioned<A>) =>
    Effect.gen(function* () {
      const encodedKey = yield* encodeKey((row.value as Record<string, unknown>)[pkColumn])
      const pk = String(encodedKey)
      const r = yield* withLock(keys.lock(pk), (held) =>
        Effect.gen(function* () {
          const { entry } = yield* current((row.value as Record<string, unknown>)[pkColumn])
          const e = live(entry)
          if (Option.isNone(e)) return yield* notFound(pk)
          if (e.value.v !== row.version) {
            return yield* Effect.fail(
              new Conflict({
                reason: "StaleVersion",
                table,
                key: pk,
                expected: row.version,
                actual: e.value.v,
                message: `${table}: row ${pk} changed since it was read (version ${row.version} is stale)`
              })
            )
          }
          return yield* replaceWith(pk, entry, row.value, held)
        })
      )
      return yield* afterWrite(r)
    })

  const modify = (key: A[K], f: (row: A) => A) =>
    Effect.gen(function* () {
      const pk = String(yield* encodeKey(key))
      const r = yield* withLock(keys.lock(pk), (held) =>
        Effect.gen(function* () {
          const { entry } = yield* current(key)
          const e = live(entry)
          if (Option.isNone(e)) return yield* notFound(pk)
          const value = yield* decodeRow(e.value.d)
          return yield* replaceWith(pk, entry, f(value), held)
        })
      )
      return yield* afterWrite(r)
    })

  const remove = (key: A[K], version?: string) =>
    Effect.gen(function* () {
      const pk = String(yield* encodeKey(key))
      return yield* withLock(keys.lock(pk), (held) =>
        Effect.gen(function* () {
          const { entry } = yield* current(key)
          const e = live(entry)
          if (Option.isNone(e)) return false
          if (version !== undefined && e.value.v !== version) {
            return yield* Effect.fail(
              new Conflict({
                reason: "StaleVersion",
                table,
                key: pk,
                expected: version,
                actual: e.value.v,
                message: `${table}: row ${pk} changed since it was read (version ${version} is stale)`
              })
            )
          }
          // The tombstone keeps the old row: the flusher takes the key to delete from it.
          yield* commit(pk, entry, { v: newVersion(), s: "x", d: e.value.d }, held)
          return true
        })
      )
    })
  return { insert, update, modify, remove }
}
