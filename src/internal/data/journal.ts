/**
 * The write-behind queue in the cache: each row's entry (clean, dirty, deleted) and the journal
 * of dirty rows (`j:<n>` slots from the `seq` counter; `done` is the last slot flushed).
 */

import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type Ctx, type Entry, parseEntry } from "./repositoryContext.js"

export const makeJournal = <A>(ctx: Ctx<A>) => {
  const { mem, table, keys, idleTimeout, m } = ctx
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
  return { readEntry, writeEntry, readCounter, journal }
}
