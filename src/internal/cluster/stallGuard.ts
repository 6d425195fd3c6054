/**
 * A runner that was frozen does not read its shards' messages until its locks were checked.
 *
 * The SQL message storage's read marks every message it returns (`last_read`), which hides it
 * from every other read for 10 minutes; the shard's owner clears the marks when it acquires the
 * shard (`resetShards`). A runner whose process was frozen longer than its locks last (SIGSTOP, a
 * VM pause, a long GC; on MariaDB also its connections cut meanwhile) wakes up still believing it
 * holds its shards, and its storage read loop can run before its lock refresh tells it otherwise:
 * it then marks messages of shards a live runner took over (and reset) while it slept, and those
 * messages stay hidden from their new owner for 10 minutes, their callers waiting on them (the
 * chaos suite's zombie round: CHAOS.md).
 *
 * This wraps the runner's two storages. A beat every 250 ms notes the clock; a storage read that
 * finds the beat overdue by more than `stall` (the process was frozen) or that comes after a late
 * beat reads nothing, until a lock refresh that started after the freeze has answered: by then
 * `Sharding` has dropped the shards it lost, and the next read covers only those it still holds.
 *
 * @internal
 */
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"

const beatMillis = 250

/**
 * The shortest freeze that may have cost a lock: the lock's life less one refresh interval (a
 * lock was refreshed at most that long before the freeze), and never under four beats.
 */
export const stallOf = (
  shardLockExpiration: Duration.DurationInput,
  shardLockRefreshInterval: Duration.DurationInput
) =>
  Duration.millis(
    Math.max(
      4 * beatMillis,
      Duration.toMillis(shardLockExpiration) - Duration.toMillis(shardLockRefreshInterval)
    )
  )

/** `messages` and `runners` (layers of them), a frozen runner's storage reads held back. */
export const guard = <E1, R1, E2, R2>(
  messages: Layer.Layer<MessageStorage.MessageStorage, E1, R1>,
  runners: Layer.Layer<RunnerStorage.RunnerStorage, E2, R2>,
  stall: Duration.DurationInput
): Layer.Layer<MessageStorage.MessageStorage | RunnerStorage.RunnerStorage, E1 | E2, R1 | R2> => {
  const stallMillis = Duration.toMillis(stall)
  return Layer.scopedContext(
    Effect.gen(function* () {
      const storage = yield* MessageStorage.MessageStorage
      const locks = yield* RunnerStorage.RunnerStorage
      let lastBeat = yield* Clock.currentTimeMillis
      /** When the last freeze was seen; 0: none since the last lock refresh after one. */
      let frozenAt = 0
      const seen = (now: number) => {
        if (now - lastBeat > stallMillis) {
          frozenAt = now
          return true
        }
        return false
      }
      yield* Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) =>
          Effect.suspend(() => {
            const frozenMs = now - lastBeat
            const late = seen(now)
            lastBeat = now
            return late
              ? Effect.logWarning(
                  `this runner was frozen for ${frozenMs} ms: its storage reads wait for its next lock refresh`
                )
              : Effect.void
          })
        ),
        Effect.repeat(Schedule.spaced(Duration.millis(beatMillis))),
        Effect.forkScoped
      )
      const guarded = MessageStorage.MessageStorage.of({
        ...storage,
        unprocessedMessages: (shardIds) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            seen(now)
            return frozenAt === 0 ? storage.unprocessedMessages(shardIds) : Effect.succeed([])
          })
      })
      const refreshing = RunnerStorage.RunnerStorage.of({
        ...locks,
        refresh: (address, shardIds) =>
          Effect.flatMap(Clock.currentTimeMillis, (startedAt) =>
            locks.refresh(address, shardIds).pipe(
              Effect.tap(() => {
                // answered after the freeze: Sharding now knows which locks it still holds
                if (frozenAt !== 0 && startedAt >= frozenAt) frozenAt = 0
              })
            )
          )
      })
      return Context.make(MessageStorage.MessageStorage, guarded).pipe(
        Context.add(RunnerStorage.RunnerStorage, refreshing)
      )
    })
  ).pipe(Layer.provide(Layer.merge(messages, runners)))
}
