/**
 * The write-behind repository engine (firefly's dbentrust `MAdmin`, done right).
 * Public names are re-exported from `src/Repository.ts`; the design is described there.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Metrics from "../observe/metrics.js"
import { NodeName } from "../observe/metrics.js"
import * as Tracing from "../observe/tracing.js"
import { DeadLetters } from "./deadLetters.js"
import { makeFence } from "./fence.js"
import { makeFlusher } from "./flusher.js"
import { makeJournal } from "./journal.js"
import { makeLocks } from "./locks.js"
import { Mem, type MemService } from "./mem.js"
import { type Ctx, makeContext } from "./repositoryContext.js"
import type { Repository, RepositoryError, RepositoryOptions } from "./repositoryModel.js"
import { makeRows } from "./rows.js"
import { makeSqlRows } from "./sqlDialect.js"
import { makeWrites } from "./writes.js"

export { DEAD_LETTER_TABLE, DeadLetters, makeDeadLetters } from "./deadLetters.js"
export { FENCE_TABLE } from "./fence.js"
export * from "./repositoryModel.js"
export { isRowError } from "./sqlDialect.js"

/** A flush counted (done or failed), timed, and followed by a sample of the queue depth. */
const observeFlush = <A, E>(
  flush: Effect.Effect<A, E>,
  pending: Effect.Effect<number, E>,
  labels: ReadonlyArray<MetricLabel.MetricLabel>
): Effect.Effect<A, E> =>
  flush.pipe(
    Metric.trackDurationWith(Metric.taggedWithLabels(Metrics.repositoryFlushSeconds, labels), (d) =>
      Duration.toSeconds(d)
    ),
    Effect.tapBoth({
      onFailure: () => Metric.increment(Metric.taggedWithLabels(Metrics.repositoryFlushFailures, labels)),
      onSuccess: () => Metric.increment(Metric.taggedWithLabels(Metrics.repositoryFlushes, labels))
    }),
    Effect.ensuring(
      pending.pipe(
        Effect.flatMap((n) => Metric.set(Metric.taggedWithLabels(Metrics.repositoryPending, labels), n)),
        Effect.ignore
      )
    )
  )

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
    const ctx = makeContext(options, sql, mem) as unknown as Ctx<A>
    const { table, columns, pkColumn, fkColumn, keys, flushInterval, m, q, fail } = ctx
    if (!columns.includes(pkColumn)) {
      return yield* fail("InvalidRow", `primary key "${pkColumn}" is not a field of the schema`)
    }
    if (fkColumn !== undefined && !columns.includes(fkColumn)) {
      return yield* fail("InvalidRow", `foreign key "${fkColumn}" is not a field of the schema`)
    }
    // The durability contract: strict on the in-process cache is write-through; strict on a
    // shared cache needs a backend that cannot lose an acknowledged write.
    const durability = options.durability ?? mem.durability
    const writeThrough = mem.backend === "memory" && durability === "strict"
    if (durability === "strict" && !writeThrough) {
      const problem = yield* Effect.mapError(mem.checkDurability, (e) => ctx.cacheError(e))
      if (problem !== undefined) {
        return yield* fail(
          "Durability",
          `${mem.backend} can lose acknowledged writes: ${problem.setting}: ${problem.message}. Fix the setting, or accept the loss with "durability": "accept-loss" in the config's cache block (Repository option durability)`
        )
      }
    }
    const parts = {
      locks: makeLocks(ctx),
      journal: makeJournal(ctx),
      rows: makeSqlRows(ctx),
      fence: makeFence(ctx)
    }
    const { readCounter } = parts.journal
    const rows = makeRows(ctx, parts, writeThrough)
    const writes = makeWrites<A, K>(ctx, parts, rows)
    const node = yield* Effect.serviceOption(NodeName)
    const labels = [
      ...Option.match(node, { onNone: () => [], onSome: (n) => [MetricLabel.make("node", n)] }),
      MetricLabel.make("table", table)
    ]
    const state = {
      labels,
      deadLettered: yield* Ref.make(0),
      nodeDeadLetters: yield* Effect.serviceOption(DeadLetters),
      hole: yield* Ref.make(Option.none<{ readonly n: number; readonly since: number }>())
    }
    const flusher = yield* makeFlusher(ctx, parts, state, writeThrough)
    const { pending } = flusher
    const observed = writeThrough ? flusher.flush : observeFlush(flusher.flush, pending, labels)
    const tracing = yield* Tracing.current
    // a traced node records the flushes that wrote or failed (not the idle ones)
    const flush =
      tracing === undefined || writeThrough
        ? observed
        : Tracing.recordIf(tracing, `hotaru.flush ${table}`, observed, (exit) =>
            exit._tag === "Success" && exit.value.written === 0
              ? undefined
              : {
                  [Tracing.ATTR_TABLE]: table,
                  ...(exit._tag === "Success" ? { [Tracing.ATTR_WRITTEN]: exit.value.written } : {})
                }
          )
    const { ensureTables, readFence } = parts.fence

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
      get: rows.get as Repository<A, K>["get"],
      getVersioned: rows.getVersioned as Repository<A, K>["getVersioned"],
      getByForeignKey: rows.getByForeignKey,
      insert: writes.insert as Repository<A, K>["insert"],
      update: writes.update,
      modify: writes.modify as Repository<A, K>["modify"],
      delete: writes.remove as Repository<A, K>["delete"],
      flush,
      pending,
      deadLettered: Ref.get(state.deadLettered),
      mode: writeThrough ? "write-through" : "write-behind"
    }
    return repository
  })
