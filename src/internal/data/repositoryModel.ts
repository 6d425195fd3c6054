/**
 * The repository's errors and public types. Public names are re-exported from `src/Repository.ts`.
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Durability } from "./mem.js"

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
