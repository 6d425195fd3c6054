/**
 * Dead letters: the table of rows the database refused, and the node-wide count of them.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Ref from "effect/Ref"

/**
 * The table holding the rows the database refused (one per refusal, with the error).
 *
 * @since 0.1.0
 * @category utils
 */
export const DEAD_LETTER_TABLE = "hotaru_dead_letter"

/**
 * The node-wide count of dead-lettered rows: every repository made where this service is present
 * adds its dead letters to it (a node provides it, fresh each time it starts). The master's
 * `/status` reads the `hotaru_repository_dead_lettered_rows` metric instead (what `/metrics`
 * shows: the same number, except after a restart in the same process, where the metric goes on).
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
 * Rows the database refused, as an Effect metric tagged with the repository's `table` (and `node`
 * inside a node): what an exporter reads, and what `/status`'s `deadLettered` sums per node.
 */
export const deadLetteredRows = Metric.counter("hotaru_repository_dead_lettered_rows", {
  description: "rows the database refused for their content, moved to hotaru_dead_letter",
  incremental: true
})

/** Rows written to the database by the flusher, tagged with the repository's `table`. */
export const flushedRows = Metric.counter("hotaru_repository_flushed_rows", {
  description: "rows upserted or deleted in the database by the write-behind flusher",
  incremental: true
})
