/**
 * The fence in the database: a monotonic token per flush lease and the last flushed journal slot,
 * so a paused or cut-off flusher can never write an older copy over a newer one.
 */

import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { DEAD_LETTER_TABLE } from "./deadLetters.js"
import type { Ctx } from "./repositoryContext.js"

/**
 * The table holding each repository's fencing token and last flushed journal slot.
 *
 * @since 0.1.0
 * @category utils
 */
export const FENCE_TABLE = "hotaru_fence"

export class FencedOut extends Data.TaggedError("FencedOut")<{ readonly message: string }> {}

export const makeFence = <A>(ctx: Ctx<A>) => {
  const { sql, table, fenceName } = ctx
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
  return { ensureTables, readFence, fence, advanceDone }
}
