/**
 * One flush batch: journal slots → rows → one fenced transaction → clean; refused rows go to the
 * dead letters.
 */
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { DEAD_LETTER_TABLE, type DeadLetters, deadLetteredRows, flushedRows } from "./deadLetters.js"
import { FencedOut, type makeFence } from "./fence.js"
import type { makeJournal } from "./journal.js"
import type { makeLocks } from "./locks.js"
import { type Ctx, type Entry } from "./repositoryContext.js"
import type { RepositoryError } from "./repositoryModel.js"
import { isRowError, type makeSqlRows, retryTransient } from "./sqlDialect.js"

/** The parts of a repository the flusher uses. */
export interface Parts {
  readonly locks: ReturnType<typeof makeLocks>
  readonly journal: ReturnType<typeof makeJournal>
  readonly rows: ReturnType<typeof makeSqlRows>
  readonly fence: ReturnType<typeof makeFence>
}

/** The flusher's node-local state. */
export interface FlushState {
  /** The repository's metric labels (`table`, and `node` inside a node). */
  readonly labels: ReadonlyArray<MetricLabel.MetricLabel>
  readonly deadLettered: Ref.Ref<number>
  readonly nodeDeadLetters: Option.Option<Context.Tag.Service<typeof DeadLetters>>
  /** The oldest journal slot seen allocated but unwritten, and since when (node-local). */
  readonly hole: Ref.Ref<Option.Option<{ readonly n: number; readonly since: number }>>
}

export type Batch = {
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
export const flushBatch = <A>(
  ctx: Ctx<A>,
  parts: Parts,
  state: FlushState,
  token: number
): Effect.Effect<Batch, RepositoryError | FencedOut> => {
  const {
    sql,
    mem,
    table,
    keys,
    batchSize,
    leaseTtl,
    holeTimeout,
    pkColumn,
    options,
    m,
    q,
    dbError,
    normalize
  } = ctx
  const { readFence, fence, advanceDone } = parts.fence
  const { readCounter, readEntry, writeEntry, journal } = parts.journal
  const { withLock } = parts.locks
  const { writeRows } = parts.rows
  const { hole } = state
  return Effect.gen(function* () {
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
          yield* Effect.logWarning(`${table}: journal slot ${n} was never written (writer died?); skipped`)
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
        else if (isRowError(one.left)) poison.push([snap, `${one.left.message}: ${String(one.left.cause)}`])
        else return yield* dbError(one.left)
      }
      written = ok
    }
    if (poison.length > 0) yield* deadLetter(ctx, parts.fence, state, token, poison, budget)
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
    yield* Metric.incrementBy(Metric.taggedWithLabels(flushedRows, state.labels), written.length)
    return { written: written.length, done: upto, seq, blocked }
  })
}

/**
 * Records refused rows in the dead-letter table (under the fence), logs and counts them.
 */
const deadLetter = <A>(
  ctx: Ctx<A>,
  fenceParts: Parts["fence"],
  state: FlushState,
  token: number,
  poison: ReadonlyArray<readonly [Snapshot, string]>,
  budget: Duration.Duration
) =>
  Effect.gen(function* () {
    const { sql, table, dbError } = ctx
    const { fence } = fenceParts
    const { deadLettered: deadLetteredRef, nodeDeadLetters } = state
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
    yield* Metric.incrementBy(Metric.taggedWithLabels(deadLetteredRows, state.labels), letters.length)
    yield* Ref.update(deadLetteredRef, (n) => n + letters.length)
    if (Option.isSome(nodeDeadLetters)) yield* nodeDeadLetters.value.add(letters.length)
  })
