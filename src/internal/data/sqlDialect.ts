/**
 * The SQL side of a repository, per dialect (MariaDB/MySQL, PostgreSQL, SQLite): upserts, deletes,
 * the write-through of one row, and which database errors are about a row's content.
 */

import type * as Statement from "@effect/sql/Statement"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { Ctx, Entry } from "./repositoryContext.js"
import { RepositoryError } from "./repositoryModel.js"

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

/** Transient database errors (not about a row) are retried with backoff for a while. */
export const retryTransient = <X, E extends { readonly _tag: string }>(
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

export const makeSqlRows = <A>(ctx: Ctx<A>) => {
  const { sql, table, pkColumn, nonKeyColumns, lockTimeout, normalize, keyOf, dbError } = ctx
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

  /** Write-through (in-process cache, strict): one row, committed before the write returns. */
  const writeThroughRow = (entry: Entry) =>
    Effect.gen(function* () {
      const d = yield* normalize(entry.d)
      const statement =
        entry.s === "x" ? sql`DELETE FROM ${sql(table)} WHERE ${sql(pkColumn)} = ${d[pkColumn]}` : upsert([d])
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
  return { upsert, writeRows, writeThroughRow }
}
