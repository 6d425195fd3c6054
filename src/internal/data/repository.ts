/**
 * The write-behind repository engine (firefly's dbentrust `MAdmin`, done right).
 * Public names are re-exported from `src/Repository.ts`; the design is described there.
 */
import { randomUUID } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import type { ParseError } from "effect/ParseResult"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { type Durability, Mem, type MemError, type MemService } from "./mem.js"

// ---------------------------------------------------------------------------------------------
// Errors and public types

/**
 * A local failure of a repository operation.
 *
 * @since 0.1.0
 * @category errors
 */
export class RepositoryError extends Schema.TaggedError<RepositoryError>()("RepositoryError", {
  reason: Schema.Literal(
    "Database",
    "Cache",
    "Decode",
    "LockTimeout",
    "NotFound",
    "DuplicateKey",
    "InvalidRow",
    "Durability",
    "Rejected",
    "Fenced"
  ),
  table: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * An update or delete carried a version that is no longer the row's current one: another writer
 * (maybe on another node) changed the row since it was read. Read it again and retry.
 *
 * @since 0.1.0
 * @category errors
 */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", {
  reason: Schema.Literal("StaleVersion"),
  table: Schema.String,
  key: Schema.String,
  expected: Schema.String,
  actual: Schema.String,
  message: Schema.String
}) {}

/**
 * A row together with its version (an opaque token, new on every write and every load).
 *
 * @since 0.1.0
 * @category models
 */
export interface Versioned<A> {
  readonly value: A
  readonly version: string
}

/**
 * The `schema` of a repository: a `Schema.Struct` (its fields are the table's columns) whose row
 * needs no services.
 *
 * @since 0.1.0
 * @category models
 */
export type RowSchema<A, I> = Schema.Schema<A, I, never> & { readonly fields: Schema.Struct.Fields }

/**
 * @since 0.1.0
 * @category models
 */
export interface RepositoryOptions<A, I, K extends keyof A & string> {
  /** The SQL table (also the cache namespace unless `namespace` is given). */
  readonly table: string
  /** One field per column; the row's encoded form is what the database stores. */
  readonly schema: RowSchema<A, I>
  readonly primaryKey: K
  /** The primary key is an integer allocated from a cache counter seeded with `MAX(pk)`. */
  readonly autoIncrement?: boolean | undefined
  /** A column with an index kept in the cache: `getByForeignKey(value)` lists its rows. */
  readonly foreignKey?: (keyof A & string) | undefined
  /** How often the background flusher writes dirty rows (default 10 seconds). */
  readonly flushInterval?: Duration.DurationInput | undefined
  /**
   * A clean row not read or written for this long leaves the cache (default 30 minutes; raised to
   * at least twice `flushInterval`).
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** Rows per database transaction (default 500). */
  readonly batchSize?: number | undefined
  /** How long a write waits for a row lock held by another writer (default 5 seconds). */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /** Cache key namespace (default `table`); keys look like `<mem prefix>repo:<namespace>:row:<pk>`. */
  readonly namespace?: string | undefined
  /**
   * Overrides the cache's `durability` (the config's `cache.durability`). `"strict"` (default):
   * on the in-process memory cache every write goes through to the database before it is
   * acknowledged; on Redis the server must have AOF and `maxmemory-policy noeviction`; memcached is
   * refused. `"accept-loss"`: write-behind on every backend, a crash or an eviction may lose
   * acknowledged writes.
   */
  readonly durability?: Durability | undefined
  /** The flush lease's time-to-live, renewed every third of it while a batch runs (default 30 s). */
  readonly leaseTtl?: Duration.DurationInput | undefined
  /**
   * Testing hook: runs in the flusher after it has read a batch's rows and before it writes them
   * (a controllable pause, to show what a paused flusher can and cannot do).
   */
  readonly beforeFlushWrite?: Effect.Effect<void> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface FlushResult {
  /** Rows written (upserted or deleted) by this call. */
  readonly written: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Repository<A, K extends keyof A & string> {
  readonly table: string
  /** The row from the cache, else from the database (then cached). */
  readonly get: (key: A[K]) => Effect.Effect<Option.Option<A>, RepositoryError>
  readonly getVersioned: (key: A[K]) => Effect.Effect<Option.Option<Versioned<A>>, RepositoryError>
  /** Every row whose foreign key equals `value` (fails when no `foreignKey` was declared). */
  readonly getByForeignKey: (value: unknown) => Effect.Effect<ReadonlyArray<A>, RepositoryError>
  /**
   * Adds a row (in the cache at once, in the database at the next flush). With `autoIncrement` the
   * primary key may be left out and is allocated. Fails with `DuplicateKey` if the key exists.
   */
  readonly insert: (row: Omit<A, K> & Partial<Pick<A, K>>) => Effect.Effect<Versioned<A>, RepositoryError>
  /** Replaces the row if its version is still `row.version` (compare-and-set), else `Conflict`. */
  readonly update: (row: Versioned<A>) => Effect.Effect<Versioned<A>, RepositoryError | Conflict>
  /** Read-modify-write under the row lock: `f` sees the latest row, so no change is lost. */
  readonly modify: (key: A[K], f: (row: A) => A) => Effect.Effect<Versioned<A>, RepositoryError>
  /** Deletes the row (with `version`: only if unchanged). `false` when there was no row. */
  readonly delete: (key: A[K], version?: string) => Effect.Effect<boolean, RepositoryError | Conflict>
  /** Writes every change made before this call to the database. */
  readonly flush: Effect.Effect<FlushResult, RepositoryError>
  /** Journal entries not yet flushed (an upper bound of the dirty rows). */
  readonly pending: Effect.Effect<number, RepositoryError>
  /**
   * Rows the database refused for their content (a constraint, a type) since this repository
   * started: each went to the `hotaru_dead_letter` table with its error and left the cache.
   */
  readonly deadLettered: Effect.Effect<number>
  /** `"write-through"` (in-process cache, strict) or `"write-behind"`. */
  readonly mode: "write-through" | "write-behind"
}

/**
 * The table holding the rows the database refused (one per refusal, with the error).
 *
 * @since 0.1.0
 * @category utils
 */
export const DEAD_LETTER_TABLE = "hotaru_dead_letter"

/**
 * The node-wide count of dead-lettered rows: every repository made where this service is present
 * adds its dead letters to it (a node provides it; the master's `/status` shows it per node).
 *
 * @since 0.1.0
 * @category services
 */
export class DeadLetters extends Context.Tag("hotaru/Repository/DeadLetters")<
  DeadLetters,
  {
    /** Rows dead-lettered since the node started, over all its repositories. */
    readonly count: Effect.Effect<number>
    readonly add: (rows: number) => Effect.Effect<void>
  }
>() {}

/**
 * A fresh node-wide dead-letter counter.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDeadLetters: Effect.Effect<DeadLetters["Type"]> = Effect.map(Ref.make(0), (ref) => ({
  count: Ref.get(ref),
  add: (rows: number) => Ref.update(ref, (n) => n + rows)
}))
/**
 * The table holding each repository's fencing token and last flushed journal slot.
 *
 * @since 0.1.0
 * @category utils
 */
export const FENCE_TABLE = "hotaru_fence"

/**
 * Whether a database error is about the row's content (a constraint, a type, a value out of
 * range): such a row goes to the dead letter; any other error (connection lost, database down,
 * deadlock, timeout) is retried and never drops a row.
 *
 * @since 0.1.0
 * @category errors
 */
export const isRowError = (error: unknown): boolean => {
  const cause = (error as { readonly cause?: unknown } | null)?.cause ?? error
  if (typeof cause !== "object" || cause === null) return false
  const c = cause as { readonly code?: unknown; readonly errno?: unknown; readonly sqlState?: unknown }
  const code = typeof c.code === "string" ? c.code : ""
  // SQLite (better-sqlite3): SQLITE_CONSTRAINT_*, SQLITE_MISMATCH, SQLITE_TOOBIG, SQLITE_RANGE
  if (code.startsWith("SQLITE_")) {
    return (
      code.startsWith("SQLITE_CONSTRAINT") ||
      code === "SQLITE_MISMATCH" ||
      code === "SQLITE_TOOBIG" ||
      code === "SQLITE_RANGE"
    )
  }
  // MySQL/MariaDB (mysql2): SQLSTATE class 22 (data) or 23 (integrity), and the HY000 errnos
  // that are about a value (1364 no default, 1366 bad value, 3819/4025 CHECK constraint).
  if (typeof c.errno === "number" && typeof c.sqlState === "string") {
    return (
      c.sqlState.startsWith("22") ||
      c.sqlState.startsWith("23") ||
      [1048, 1062, 1264, 1265, 1292, 1364, 1366, 1406, 1451, 1452, 3819, 4025].includes(c.errno)
    )
  }
  // PostgreSQL (pg): the SQLSTATE in `code`, class 22 (data exception) or 23 (integrity).
  if (/^[0-9A-Z]{5}$/.test(code)) return code.startsWith("22") || code.startsWith("23")
  return false
}

// ---------------------------------------------------------------------------------------------
// Cache entries

/** `c` clean (same as the database), `d` dirty (to upsert), `x` deleted (to delete). */
type State = "c" | "d" | "x"

interface Entry {
  readonly v: string
  readonly s: State
  readonly d: Record<string, unknown> | null
}

const parseEntry = (raw: string): Entry | undefined => {
  try {
    const value: unknown = JSON.parse(raw)
    if (
      typeof value === "object" &&
      value !== null &&
      "v" in value &&
      "s" in value &&
      "d" in value &&
      typeof value.v === "string" &&
      (value.s === "c" || value.s === "d" || value.s === "x")
    ) {
      return value as Entry
    }
    return undefined
  } catch {
    return undefined
  }
}

const newVersion = () => randomUUID()

// ---------------------------------------------------------------------------------------------
// The engine

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I, K extends keyof A & string>(
  options: RepositoryOptions<A, I, K>
): Effect.Effect<Repository<A, K>, RepositoryError, SqlClient.SqlClient | Mem | Scope.Scope> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const mem: MemService = yield* Mem
    const table = options.table
    const pkColumn = options.primaryKey
    const fkColumn = options.foreignKey
    const schema = options.schema as unknown as Schema.Schema<A, Record<string, unknown>>
    const columns = Object.keys(options.schema.fields)
    const nonKeyColumns = columns.filter((c) => c !== pkColumn)
    const flushInterval = Duration.decode(options.flushInterval ?? "10 seconds")
    // A clean row must outlive a flush interval (the foreign-key index relies on it): raise it.
    const idleTimeout = Duration.max(
      Duration.decode(options.idleTimeout ?? "30 minutes"),
      Duration.times(flushInterval, 2)
    )
    const batchSize = Math.max(1, options.batchSize ?? 500)
    const lockTimeout = Duration.decode(options.lockTimeout ?? "5 seconds")
    /** A row lock lives at most this long (a crashed holder releases it by expiry). */
    const lockTtl = Duration.max(Duration.times(lockTimeout, 2), Duration.seconds(10))
    /** The flusher lease (one batch at a time, across all nodes), renewed while a batch runs. */
    const leaseTtl = Duration.decode(options.leaseTtl ?? "30 seconds")
    const leaseRenewEvery = Duration.millis(Math.max(10, Duration.toMillis(leaseTtl) / 3))
    /** A journal slot allocated but never written is skipped after this long (its writer died). */
    const holeTimeout = lockTtl

    const ns = `repo:${options.namespace ?? table}:`
    const keys = {
      row: (pk: string) => `${ns}row:${pk}`,
      lock: (pk: string) => `${ns}lock:${pk}`,
      fk: (value: string) => `${ns}fk:${value}`,
      fkLock: (value: string) => `${ns}fklock:${value}`,
      journal: (n: number) => `${ns}j:${n}`,
      seq: `${ns}seq`,
      done: `${ns}done`,
      lease: `${ns}flusher`,
      fence: `${ns}fence`,
      id: `${ns}id`
    }
    /** This repository's row in the fence table. */
    const fenceName = options.namespace ?? table

    if (!columns.includes(pkColumn)) {
      return yield* fail("InvalidRow", `primary key "${pkColumn}" is not a field of the schema`)
    }
    if (fkColumn !== undefined && !columns.includes(fkColumn)) {
      return yield* fail("InvalidRow", `foreign key "${fkColumn}" is not a field of the schema`)
    }

    function fail(reason: RepositoryError["reason"], message: string, cause?: unknown) {
      return Effect.fail(
        new RepositoryError({
          reason,
          table,
          message: `${table}: ${message}`,
          ...(cause !== undefined ? { cause } : {})
        })
      )
    }
    // The durability contract: strict on the in-process cache is write-through; strict on a
    // shared cache needs a backend that cannot lose an acknowledged write.
    const durability = options.durability ?? mem.durability
    const writeThrough = mem.backend === "memory" && durability === "strict"
    if (durability === "strict" && !writeThrough) {
      const problem = yield* Effect.mapError(mem.checkDurability, (e) => cacheError(e))
      if (problem !== undefined) {
        return yield* fail(
          "Durability",
          `${mem.backend} can lose acknowledged writes: ${problem.setting}: ${problem.message}. Fix the setting, or accept the loss with "durability": "accept-loss" in the config's cache block (Repository option durability)`
        )
      }
    }

    const cacheError = (e: MemError) =>
      new RepositoryError({ reason: "Cache", table, message: e.message, cause: e })
    const dbError = (e: SqlError) =>
      new RepositoryError({
        reason: "Database",
        table,
        message: `${table}: ${e.message}: ${String(e.cause)}`,
        cause: e
      })
    const decodeError = (e: ParseError) =>
      new RepositoryError({ reason: "Decode", table, message: `${table}: ${e.message}`, cause: e })
    const m = <X>(eff: Effect.Effect<X, MemError>) => Effect.mapError(eff, cacheError)
    const q = <X>(eff: Effect.Effect<X, SqlError>) => Effect.mapError(eff, dbError)

    const encodeRow = (row: A) => Effect.mapError(Schema.encode(schema)(row), decodeError)
    const decodeRow = (row: unknown) => Effect.mapError(Schema.decodeUnknown(schema)(row), decodeError)
    /** The database/cache form of a row: the encoded row, only the schema's columns. */
    const normalize = (row: unknown) => Effect.flatMap(decodeRow(row), encodeRow)
    const keyOf = (encoded: Record<string, unknown>) => String(encoded[pkColumn])
    const pkSchema = Schema.Struct({
      [pkColumn]: options.schema.fields[pkColumn]!
    }) as unknown as Schema.Schema<Record<string, unknown>, Record<string, unknown>>
    const encodeKey = (key: unknown) =>
      Effect.map(
        Effect.mapError(Schema.encodeUnknown(pkSchema)({ [pkColumn]: key }), decodeError),
        (e) => e[pkColumn]
      )

    // -- locks ------------------------------------------------------------------------------

    /**
     * Takes a lock key (`add` with a ttl), retrying until `lockTimeout`. Runs inside
     * `acquireUseRelease` (uninterruptible): each `add` completes, so a lock that was set is always
     * returned and released; only the pauses between attempts can be interrupted.
     */
    const acquire = (key: string, ttl: Duration.Duration) =>
      Effect.gen(function* () {
        const token = newVersion()
        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(lockTimeout)
        while (!(yield* m(mem.add(key, token, { ttl })))) {
          if ((yield* Clock.currentTimeMillis) >= deadline) {
            return yield* fail(
              "LockTimeout",
              `lock "${key}" still held after ${Duration.format(lockTimeout)}`
            )
          }
          yield* Effect.interruptible(Effect.sleep(Duration.millis(2 + (yield* Random.next) * 4)))
        }
        return token
      })
    /** Atomic compare-and-delete: a lock that expired and was taken by another is left alone. */
    const release = (key: string, token: string) =>
      mem.deleteIf(key, token).pipe(
        Effect.asVoid,
        Effect.catchAll((e) => Effect.logWarning(`${table}: could not release lock ${key}: ${e.message}`))
      )
    /**
     * Runs `use` holding the lock. `use` gets `held`: it re-asserts (and renews) the lock right
     * before a write, failing with `LockTimeout` when the lock expired meanwhile (a slow database
     * load), so two writers can never both commit under one lock.
     */
    const withLock = <X, E, R>(
      key: string,
      use: (held: Effect.Effect<void, RepositoryError>) => Effect.Effect<X, E, R>
    ) =>
      Effect.acquireUseRelease(
        acquire(key, lockTtl),
        (token) =>
          use(
            Effect.flatMap(m(mem.expireIf(key, token, lockTtl)), (still) =>
              still
                ? Effect.void
                : fail("LockTimeout", `lock "${key}" expired before the write (the write is not applied)`)
            )
          ),
        (token) => release(key, token)
      )

    // -- cache rows -------------------------------------------------------------------------

    const readEntry = (pk: string) =>
      m(mem.get(keys.row(pk))).pipe(Effect.map((raw) => Option.flatMapNullable(raw, parseEntry)))
    const writeEntry = (pk: string, entry: Entry) =>
      m(mem.set(keys.row(pk), JSON.stringify(entry), entry.s === "c" ? { ttl: idleTimeout } : undefined))
    const readCounter = (key: string) =>
      Effect.map(m(mem.get(key)), (raw) => (Option.isSome(raw) ? Number(raw.value) || 0 : 0))

    /**
     * Appends `pk` to the dirty journal. Called under the row lock, before the row is written. The
     * sequence never goes backwards: a slot at or below `done` (a counter the cache lost) would
     * never be flushed, so the counter is moved past `done` first.
     */
    const journal = (pk: string) =>
      Effect.gen(function* () {
        let n = yield* m(mem.incr(keys.seq))
        const done = yield* readCounter(keys.done)
        if (n <= done) {
          yield* Effect.logWarning(
            `${table}: the journal sequence was reset (${n} <= done ${done}); moved past it`
          )
          n = yield* m(mem.incr(keys.seq, done - n + 1))
        }
        yield* m(mem.set(keys.journal(n), pk))
      })

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

    // -- operations -------------------------------------------------------------------------

    const getVersioned = (key: A[K]) =>
      Effect.flatMap(current(key), ({ entry }) => {
        const e = live(entry)
        return Option.isNone(e) ? Effect.succeedNone : Effect.map(toVersioned(e.value), Option.some)
      })

    const get = (key: A[K]) =>
      Effect.map(
        getVersioned(key),
        Option.map((v) => v.value)
      )

    const getByForeignKey = (value: unknown) =>
      Effect.gen(function* () {
        if (fkColumn === undefined) return yield* fail("InvalidRow", "no foreignKey was declared")
        const list = yield* indexRead(value)
        yield* m(mem.set(keys.fk(String(value)), JSON.stringify(list), { ttl: idleTimeout }))
        const rows = yield* Effect.forEach(list, (k) => getVersioned(k as A[K]), { concurrency: 16 })
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

    // -- the flusher ------------------------------------------------------------------------

    const upsert = (rows: ReadonlyArray<Record<string, unknown>>) => {
      const values = rows
      const updates = (fn: (c: string) => Statement.Fragment) =>
        nonKeyColumns.length === 0
          ? sql.csv([sql`${sql(pkColumn)} = ${sql(pkColumn)}`])
          : sql.csv(nonKeyColumns.map(fn))
      return sql.onDialectOrElse({
        // Not `ON DUPLICATE KEY UPDATE`: it fires on ANY unique key, so a row clashing with another
        // row's UNIQUE column would silently overwrite that row. Update the rows whose primary key
        // exists, insert the others (a clash then fails, and the row is dead-lettered).
        mysql: () =>
          Effect.gen(function* () {
            const existing = yield* sql<
              Record<string, unknown>
            >`SELECT ${sql(pkColumn)} FROM ${sql(table)} WHERE ${sql(pkColumn)} IN ${sql.in(values.map((r) => r[pkColumn]))} FOR UPDATE`
            const have = new Set(existing.map((r) => String(r[pkColumn])))
            const inserts = values.filter((r) => !have.has(String(r[pkColumn])))
            if (inserts.length > 0) yield* sql`INSERT INTO ${sql(table)} ${sql.insert(inserts)}`
            if (nonKeyColumns.length === 0) return
            for (const row of values) {
              if (!have.has(String(row[pkColumn]))) continue
              const set: Record<string, unknown> = {}
              for (const c of nonKeyColumns) set[c] = row[c]
              yield* sql`UPDATE ${sql(table)} SET ${sql.update(set)} WHERE ${sql(pkColumn)} = ${row[pkColumn]}`
            }
          }),
        orElse: () =>
          nonKeyColumns.length === 0
            ? sql`INSERT INTO ${sql(table)} ${sql.insert(values)} ON CONFLICT (${sql(pkColumn)}) DO NOTHING`
            : sql`INSERT INTO ${sql(table)} ${sql.insert(values)} ON CONFLICT (${sql(pkColumn)}) DO UPDATE SET ${updates((c) => sql`${sql(c)} = excluded.${sql(c)}`)}`
      })
    }

    /** The SQL of some dirty rows (upserts) and tombstones (deletes by key). */
    const writeRows = (upserts: ReadonlyArray<Record<string, unknown>>, deleteKeys: ReadonlyArray<unknown>) =>
      Effect.all(
        [
          upserts.length > 0 ? upsert(upserts) : Effect.void,
          deleteKeys.length > 0
            ? sql`DELETE FROM ${sql(table)} WHERE ${sql(pkColumn)} IN ${sql.in(deleteKeys)}`
            : Effect.void
        ],
        { discard: true }
      )

    /** Transient database errors (not about a row) are retried with backoff for a while. */
    const retryTransient = <X, E extends { readonly _tag: string }>(
      eff: Effect.Effect<X, E>,
      budget: Duration.DurationInput
    ) =>
      Effect.retry(eff, {
        schedule: Schedule.exponential("50 millis", 2).pipe(
          Schedule.union(Schedule.spaced("2 seconds")),
          Schedule.upTo(budget)
        ),
        while: (e) => e._tag === "SqlError" && !isRowError(e)
      })

    /** Write-through (in-process cache, strict): one row, committed before the write returns. */
    const writeThroughRow = (entry: Entry) =>
      Effect.gen(function* () {
        const d = yield* normalize(entry.d)
        const statement =
          entry.s === "x"
            ? sql`DELETE FROM ${sql(table)} WHERE ${sql(pkColumn)} = ${d[pkColumn]}`
            : upsert([d])
        yield* retryTransient(statement, lockTimeout).pipe(
          Effect.mapError((e) =>
            isRowError(e)
              ? new RepositoryError({
                  reason: "Rejected",
                  table,
                  message: `${table}: the database refused row ${keyOf(d)}: ${String(e.cause)}`,
                  cause: e
                })
              : dbError(e)
          )
        )
      })

    // -- fence: a monotonic token per lease and the last flushed slot, in the database -------

    const ensureTables = Effect.gen(function* () {
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(FENCE_TABLE)} (name VARCHAR(255) PRIMARY KEY, token BIGINT NOT NULL, done BIGINT NOT NULL)`
      yield* sql.onDialectOrElse({
        mysql: () =>
          sql`CREATE TABLE IF NOT EXISTS ${sql(DEAD_LETTER_TABLE)} (id BIGINT AUTO_INCREMENT PRIMARY KEY, tbl VARCHAR(255) NOT NULL, pk VARCHAR(255) NOT NULL, row_json TEXT, error TEXT NOT NULL, at BIGINT NOT NULL)`,
        pg: () =>
          sql`CREATE TABLE IF NOT EXISTS ${sql(DEAD_LETTER_TABLE)} (id BIGSERIAL PRIMARY KEY, tbl VARCHAR(255) NOT NULL, pk VARCHAR(255) NOT NULL, row_json TEXT, error TEXT NOT NULL, at BIGINT NOT NULL)`,
        orElse: () =>
          sql`CREATE TABLE IF NOT EXISTS ${sql(DEAD_LETTER_TABLE)} (id INTEGER PRIMARY KEY AUTOINCREMENT, tbl VARCHAR(255) NOT NULL, pk VARCHAR(255) NOT NULL, row_json TEXT, error TEXT NOT NULL, at BIGINT NOT NULL)`
      })
      yield* sql.onDialectOrElse({
        mysql: () =>
          sql`INSERT IGNORE INTO ${sql(FENCE_TABLE)} (name, token, done) VALUES (${fenceName}, 0, 0)`,
        orElse: () =>
          sql`INSERT INTO ${sql(FENCE_TABLE)} (name, token, done) VALUES (${fenceName}, 0, 0) ON CONFLICT (name) DO NOTHING`
      })
    })

    const readFence = Effect.map(
      sql<{
        token: unknown
        done: unknown
      }>`SELECT token, done FROM ${sql(FENCE_TABLE)} WHERE name = ${fenceName}`,
      (rows) => ({ token: Number(rows[0]?.token ?? 0), done: Number(rows[0]?.done ?? 0) })
    )

    class FencedOut extends Data.TaggedError("FencedOut")<{ readonly message: string }> {}

    /**
     * First statement of every flush transaction: moves the table's fence to `token`, only if no
     * newer token has written; else `FencedOut` (rollback). The row lock this UPDATE takes is held
     * until commit, so fenced transactions are serial, and once a newer flusher has committed an
     * older one can commit nothing.
     */
    const fence = (token: number) =>
      Effect.gen(function* () {
        yield* sql`UPDATE ${sql(FENCE_TABLE)} SET token = ${token} WHERE name = ${fenceName} AND token <= ${token}`
        const now = yield* readFence
        if (now.token !== token) {
          return yield* new FencedOut({
            message: `${table}: fenced out (token ${token}; the database has token ${now.token})`
          })
        }
      })

    /**
     * The batch is written and its rows marked clean: `done` moves from `from` to `upto`, only if
     * this token is still the fence's and `done` did not move. A flusher that dies before this
     * leaves `done` where it was: the next one replays the batch (upserts of the current rows).
     */
    const advanceDone = (token: number, from: number, upto: number) =>
      Effect.gen(function* () {
        yield* sql`UPDATE ${sql(FENCE_TABLE)} SET done = ${upto} WHERE name = ${fenceName} AND token = ${token} AND done = ${from}`
        const now = yield* readFence
        if (now.token !== token || now.done !== upto) {
          return yield* new FencedOut({
            message: `${table}: fenced out at the end of a batch (token ${token}, done ${from}; the database has token ${now.token}, done ${now.done})`
          })
        }
      })

    const deadLetteredRef = yield* Ref.make(0)
    const nodeDeadLetters = yield* Effect.serviceOption(DeadLetters)

    /** The oldest journal slot seen allocated but unwritten, and since when (node-local). */
    const hole = yield* Ref.make(Option.none<{ readonly n: number; readonly since: number }>())
    const localLock = yield* Effect.makeSemaphore(1)

    type Batch = {
      readonly written: number
      readonly done: number
      readonly seq: number
      readonly blocked: boolean
    }

    type Snapshot = readonly [pk: string, entry: Entry]

    /**
     * One batch: journal slots (done, done + batchSize] → rows (decoded with the schema) → one
     * fenced transaction → clean. A batch the database refuses is retried row by row; a row
     * refused for its content is dead-lettered; other errors are retried with backoff.
     */
    const flushBatch = (token: number): Effect.Effect<Batch, RepositoryError | FencedOut> =>
      Effect.gen(function* () {
        const done = (yield* q(readFence)).done
        const seq = yield* readCounter(keys.seq)
        if (seq <= done) return { written: 0, done, seq, blocked: false }
        let upto = Math.min(seq, done + batchSize)
        const slots: Array<number> = []
        for (let n = done + 1; n <= upto; n++) slots.push(n)
        const raw = yield* m(mem.getMany(slots.map(keys.journal)))
        const pks: Array<string> = []
        let blocked = false
        for (let i = 0; i < slots.length; i++) {
          const slot = raw[i]!
          if (Option.isSome(slot)) {
            pks.push(slot.value)
            continue
          }
          // A slot allocated but not (yet) written: its writer is mid-write or died.
          const n = slots[i]!
          const now = yield* Clock.currentTimeMillis
          const seen = yield* Ref.get(hole)
          if (Option.isSome(seen) && seen.value.n === n) {
            if (now - seen.value.since >= Duration.toMillis(holeTimeout)) {
              yield* Effect.logWarning(
                `${table}: journal slot ${n} was never written (writer died?); skipped`
              )
              continue
            }
          } else {
            yield* Ref.set(hole, Option.some({ n, since: now }))
          }
          upto = n - 1
          blocked = true
          break
        }
        if (upto <= done) return { written: 0, done, seq, blocked }
        const unique = [...new Set(pks)]
        const snapshots = yield* Effect.forEach(
          unique,
          (pk) =>
            Effect.map(
              withLock(keys.lock(pk), () => readEntry(pk)),
              (e) => [pk, e] as const
            ),
          { concurrency: 16 }
        )
        const dirty: Array<Snapshot> = snapshots.flatMap(([pk, e]) =>
          Option.isSome(e) && e.value.s !== "c" && e.value.d !== null ? [[pk, e.value] as const] : []
        )
        if (options.beforeFlushWrite !== undefined) yield* options.beforeFlushWrite
        // Cached rows are decoded with the table's schema before they go to SQL.
        const good: Array<readonly [Snapshot, Record<string, unknown>]> = []
        const poison: Array<readonly [Snapshot, string]> = []
        for (const snap of dirty) {
          const decoded = yield* Effect.either(normalize(snap[1].d))
          if (decoded._tag === "Right") good.push([snap, decoded.right])
          else poison.push([snap, decoded.left.message])
        }
        const sqlOf = (rows: ReadonlyArray<readonly [Snapshot, Record<string, unknown>]>) =>
          writeRows(
            rows.flatMap(([[, e], d]) => (e.s === "d" ? [d] : [])),
            rows.flatMap(([[, e], d]) => (e.s === "x" ? [d[pkColumn]] : []))
          )
        const transaction = (rows: ReadonlyArray<readonly [Snapshot, Record<string, unknown>]>) =>
          sql.withTransaction(Effect.zipRight(fence(token), sqlOf(rows)))
        const budget = Duration.times(leaseTtl, 2)
        const whole = yield* Effect.either(retryTransient(transaction(good), budget))
        let written: ReadonlyArray<Snapshot> = good.map(([snap]) => snap)
        if (whole._tag === "Left") {
          const e = whole.left
          if (e._tag === "FencedOut") return yield* e
          if (!isRowError(e)) return yield* dbError(e)
          // Row by row: each row in its own fenced transaction; a refused row is dead-lettered.
          const ok: Array<Snapshot> = []
          for (const [snap, d] of good) {
            const one = yield* Effect.either(retryTransient(transaction([[snap, d]]), budget))
            if (one._tag === "Right") ok.push(snap)
            else if (one.left._tag === "FencedOut") return yield* one.left
            else if (isRowError(one.left))
              poison.push([snap, `${one.left.message}: ${String(one.left.cause)}`])
            else return yield* dbError(one.left)
          }
          written = ok
        }
        if (poison.length > 0) {
          // The dead letters commit under the fence (at least once: a replayed batch whose refused
          // row is still cached records it again).
          const at = yield* Clock.currentTimeMillis
          const letters = poison.map(([[pk, e], error]) => ({
            tbl: table,
            pk,
            row_json: JSON.stringify(e.d),
            error,
            at
          }))
          yield* retryTransient(
            sql.withTransaction(
              Effect.zipRight(fence(token), sql`INSERT INTO ${sql(DEAD_LETTER_TABLE)} ${sql.insert(letters)}`)
            ),
            budget
          ).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(dbError(e))))
          for (const letter of letters) {
            yield* Effect.logError(
              `${table}: row ${letter.pk} refused by the database, dead-lettered in ${DEAD_LETTER_TABLE}: ${letter.error}`
            )
          }
          yield* Ref.update(deadLetteredRef, (n) => n + letters.length)
          if (Option.isSome(nodeDeadLetters)) yield* nodeDeadLetters.value.add(letters.length)
        }
        const refused = new Set(poison.map(([[pk]]) => pk))
        // Mark clean what did not change meanwhile (a refused row leaves the cache); re-journal
        // what did.
        yield* Effect.forEach(
          [...written, ...poison.map(([snap]) => snap)],
          ([pk, snap]) =>
            withLock(keys.lock(pk), () =>
              Effect.gen(function* () {
                const now = yield* readEntry(pk)
                if (Option.isNone(now)) return
                if (now.value.v === snap.v) {
                  if (snap.s === "x" || refused.has(pk)) yield* m(mem.delete(keys.row(pk)))
                  else yield* writeEntry(pk, { ...snap, s: "c" })
                } else if (now.value.s !== "c") {
                  yield* journal(pk)
                }
              })
            ),
          { concurrency: 16, discard: true }
        )
        yield* retryTransient(sql.withTransaction(advanceDone(token, done, upto)), budget).pipe(
          Effect.catchTag("SqlError", (e) => Effect.fail(dbError(e)))
        )
        yield* m(mem.set(keys.done, String(upto)))
        yield* m(mem.deleteMany(slots.filter((n) => n <= upto).map(keys.journal)))
        yield* Ref.update(hole, (h) => Option.filter(h, (x) => x.n > upto))
        return { written: written.length, done: upto, seq, blocked }
      })

    /**
     * Takes the flusher lease and a fencing token above every token the database has seen (the
     * cache counter is moved past it if the cache lost it).
     */
    const takeLease = Effect.gen(function* () {
      const holder = newVersion()
      if (!(yield* m(mem.add(keys.lease, holder, { ttl: leaseTtl })))) return undefined
      let token = yield* m(mem.incr(keys.fence))
      const stored = (yield* q(readFence)).token
      if (token <= stored) token = yield* m(mem.incr(keys.fence, stored - token + 1))
      return { holder, token }
    })

    /** Renews the lease every third of its ttl; fails when it was lost (the batch then stops). */
    const renewLease = (holder: string) =>
      Effect.sleep(leaseRenewEvery).pipe(
        Effect.zipRight(m(mem.expireIf(keys.lease, holder, leaseTtl))),
        Effect.flatMap((still) =>
          still ? Effect.void : Effect.fail(new FencedOut({ message: `${table}: the flush lease was lost` }))
        ),
        Effect.forever
      )

    /**
     * One batch under the flusher lease; `undefined` when another node holds the lease or this
     * flusher was fenced out (a newer flusher wrote; nothing of this batch was applied).
     */
    const leasedBatch = localLock.withPermits(1)(
      Effect.acquireUseRelease(
        takeLease,
        (lease) =>
          lease === undefined
            ? Effect.succeed(undefined)
            : // (the renewer is interruptible even in the final flush, a finalizer)
              Effect.raceFirst(flushBatch(lease.token), Effect.interruptible(renewLease(lease.holder))).pipe(
                Effect.catchTag("FencedOut", (e) => Effect.as(Effect.logWarning(e.message), undefined))
              ),
        (lease) => (lease === undefined ? Effect.void : release(keys.lease, lease.holder))
      )
    )

    /** Flushes until the journal slots that existed at the start are done. */
    const flush: Effect.Effect<FlushResult, RepositoryError> = writeThrough
      ? Effect.succeed({ written: 0 })
      : Effect.gen(function* () {
          const target = yield* readCounter(keys.seq)
          let written = 0
          const deadline =
            (yield* Clock.currentTimeMillis) +
            Duration.toMillis(holeTimeout) +
            Duration.toMillis(leaseTtl) * 2
          // waits while blocked (lease elsewhere, a journal hole) back off from 10 ms to 500 ms
          let pause = 10
          while (true) {
            const batch = yield* leasedBatch
            if (batch !== undefined) {
              written += batch.written
              if (batch.done >= target) return { written }
              if (!batch.blocked) {
                pause = 10
                continue
              }
            }
            if ((yield* Clock.currentTimeMillis) > deadline) {
              return yield* fail(
                "LockTimeout",
                "flush did not finish (flusher lease held elsewhere or a journal hole)"
              )
            }
            yield* Effect.sleep(Duration.millis(pause))
            pause = Math.min(500, pause * 2)
          }
        })

    const pending = Effect.map(Effect.all([readCounter(keys.seq), readCounter(keys.done)]), ([seq, done]) =>
      Math.max(0, seq - done)
    )

    yield* q(ensureTables.pipe(Effect.retry({ times: 3, schedule: Schedule.spaced("100 millis") })))
    if (!writeThrough) {
      // The sequence cannot go backwards: seed it (and the cached `done`) from the database.
      const fence = yield* q(readFence)
      const seq = yield* readCounter(keys.seq)
      if (seq < fence.done) yield* m(mem.incr(keys.seq, fence.done - seq))
      if ((yield* readCounter(keys.done)) < fence.done) yield* m(mem.set(keys.done, String(fence.done)))
      // Clean stop: the last finalizer to run (added first) flushes what is left.
      yield* Effect.addFinalizer(() =>
        flush.pipe(
          Effect.catchAll((e) => Effect.logError(`${table}: final flush failed: ${String(e)}`)),
          Effect.asVoid
        )
      )
      yield* flush.pipe(
        Effect.catchAll((e) => Effect.logError(`${table}: background flush failed: ${e.message}`)),
        Effect.repeat(Schedule.spaced(flushInterval)),
        Effect.delay(flushInterval),
        Effect.forkScoped
      )
    }

    const repository: Repository<A, K> = {
      table,
      get,
      getVersioned,
      getByForeignKey,
      insert,
      update,
      modify,
      delete: remove,
      flush,
      pending,
      deadLettered: Ref.get(deadLetteredRef),
      mode: writeThrough ? "write-through" : "write-behind"
    }
    return repository
  })
