/**
 * A runner that stops lets go of its shard locks before it leaves the runner table.
 *
 * @effect/cluster 0.60 closes a runner's `Sharding` in this order: it deletes the runner's row
 * (`RunnerStorage.unregister`), interrupts its loops (storage read, shard acquisition, lock
 * refresh), and only then releases its shard locks (`releaseAll`), ~50–150 ms later. A peer whose
 * runner-table poll falls in between takes the new assignment, finds the locks still held, and
 * the cluster's acquisition loop sleeps a fixed second before it tries again: a second of
 * unavailability for those rooms, and the likelier the more often the peers poll.
 *
 * This wraps the runner storage so that `unregister` first releases every lock of the runner, then
 * deletes its row: when a peer sees the runner gone, its locks are free. From that moment the
 * stopping runner takes no lock again (`acquire` takes none, `refresh` only beats the heart and
 * reports none held), so its refresh loop, still running for those milliseconds, cannot take back
 * a lock it just let go. Nothing runs on those shards any more: with `preemptiveShutdown` off (see
 * `EntitySharding.settingsOf`) `Sharding` closes after the runner's entities have closed, as before;
 * only the release moves earlier, by the same few milliseconds.
 *
 * @internal
 */
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** `storage` (a layer of it), releasing a runner's locks before it unregisters. */
export const releaseFirst = <E, R>(
  storage: Layer.Layer<RunnerStorage.RunnerStorage, E, R>
): Layer.Layer<RunnerStorage.RunnerStorage, E, R> =>
  Layer.effect(
    RunnerStorage.RunnerStorage,
    Effect.map(RunnerStorage.RunnerStorage, (s) => {
      let leaving = false
      return RunnerStorage.RunnerStorage.of({
        ...s,
        unregister: (address) =>
          Effect.suspend(() => {
            leaving = true
            // a failed release is no worse than before: the cluster releases again at its end
            return Effect.zipRight(Effect.ignore(s.releaseAll(address)), s.unregister(address))
          }),
        acquire: (address, shardIds) => (leaving ? Effect.succeed([]) : s.acquire(address, shardIds)),
        refresh: (address, shardIds) =>
          leaving ? Effect.as(s.refresh(address, []), []) : s.refresh(address, shardIds)
      })
    })
  ).pipe(Layer.provide(storage))
