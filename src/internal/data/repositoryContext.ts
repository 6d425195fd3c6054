/**
 * What every part of a repository shares: its settings (durations, keys, columns) and the small
 * helpers that turn cache/database/decode failures into `RepositoryError`s.
 */
import { randomUUID } from "node:crypto"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { ParseError } from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { MemError, MemService } from "./mem.js"
import { RepositoryError, type RepositoryOptions } from "./repositoryModel.js"

// Cache entries

/** `c` clean (same as the database), `d` dirty (to upsert), `x` deleted (to delete). */
export type State = "c" | "d" | "x"

export interface Entry {
  readonly v: string
  readonly s: State
  readonly d: Record<string, unknown> | null
}

export const parseEntry = (raw: string): Entry | undefined => {
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

export const newVersion = () => randomUUID()

/** The cache keys of one repository. */
export const makeKeys = (namespace: string) => {
  const ns = `repo:${namespace}:`
  return {
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
}

/** A repository's settings and shared helpers (the explicit input of its parts). */
export type Ctx<A> = ReturnType<typeof makeContext<A, unknown, keyof A & string>>

export const makeContext = <A, I, K extends keyof A & string>(
  options: RepositoryOptions<A, I, K>,
  sql: SqlClient.SqlClient,
  mem: MemService
) => {
  const table = options.table
  const pkColumn: string = options.primaryKey
  const fkColumn: string | undefined = options.foreignKey
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
  const keys = makeKeys(options.namespace ?? table)
  /** This repository's row in the fence table. */
  const fenceName = options.namespace ?? table

  const fail = (reason: RepositoryError["reason"], message: string, cause?: unknown) =>
    Effect.fail(
      new RepositoryError({
        reason,
        table,
        message: `${table}: ${message}`,
        ...(cause !== undefined ? { cause } : {})
      })
    )
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
  // (a primary key that is not a field is refused by `make` before any row is touched)
  const pkSchema = Schema.Struct({
    [pkColumn]: options.schema.fields[pkColumn] ?? Schema.Unknown
  }) as unknown as Schema.Schema<Record<string, unknown>, Record<string, unknown>>
  const encodeKey = (key: unknown) =>
    Effect.map(
      Effect.mapError(Schema.encodeUnknown(pkSchema)({ [pkColumn]: key }), decodeError),
      (e) => e[pkColumn]
    )
  return {
    options: options as RepositoryOptions<A, unknown, keyof A & string>,
    sql,
    mem,
    table,
    pkColumn,
    fkColumn,
    columns,
    nonKeyColumns,
    flushInterval,
    idleTimeout,
    batchSize,
    lockTimeout,
    lockTtl,
    leaseTtl,
    leaseRenewEvery,
    holeTimeout,
    keys,
    fenceName,
    fail,
    cacheError,
    dbError,
    m,
    q,
    encodeRow,
    decodeRow,
    normalize,
    keyOf,
    encodeKey
  }
}
