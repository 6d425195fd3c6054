/**
 * A runner whose process was frozen reads no message until a lock refresh that started after the
 * freeze has answered (issue 19: the chaos suite's zombie round left messages of shards a live
 * runner had taken hidden for 10 minutes, CHAOS.md). The freeze is real: the event loop blocked
 * (`Atomics.wait`), as under SIGSTOP; the storages are the cluster's own in-memory ones, the read
 * counted on its way to them.
 */
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as ShardId from "@effect/cluster/ShardId"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer } from "effect"
import * as StallGuard from "../src/internal/cluster/stallGuard.js"

/** Block this thread's event loop for `ms`, as a SIGSTOP or a VM pause does. */
const freeze = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

const guarded = (stall: Duration.DurationInput) =>
  Effect.gen(function* () {
    let reads = 0
    const counting = Layer.effect(
      MessageStorage.MessageStorage,
      Effect.map(MessageStorage.MessageStorage, (s) =>
        MessageStorage.MessageStorage.of({
          ...s,
          unprocessedMessages: (ids) => {
            reads++
            return s.unprocessedMessages(ids)
          }
        })
      )
    ).pipe(Layer.provide(MessageStorage.layerMemory))
    const context = yield* Layer.build(
      StallGuard.guard(counting, RunnerStorage.layerMemory, stall).pipe(Layer.provide(ShardingConfig.layer()))
    )
    return {
      storage: Context.get(context, MessageStorage.MessageStorage),
      locks: Context.get(context, RunnerStorage.RunnerStorage),
      reads: () => reads
    }
  })

const shards = [ShardId.make("default", 1)]
const self = RunnerAddress.make("127.0.0.1", 1)

describe("StallGuard", () => {
  it.scopedLive("a storage read after a freeze waits for a lock refresh that started after it", () =>
    Effect.gen(function* () {
      const { storage, locks, reads } = yield* guarded("600 millis")
      yield* storage.unprocessedMessages(shards)
      // awake: beats every 250 ms, reads go through
      yield* Effect.sleep("700 millis")
      yield* storage.unprocessedMessages(shards)
      expect(reads()).toBe(2)

      // frozen past the stall: the read that runs first on waking reads nothing
      freeze(1_000)
      expect(yield* storage.unprocessedMessages(shards)).toEqual([])
      // nor later, the beats back on time, while no refresh has answered
      yield* Effect.sleep("400 millis")
      expect(yield* storage.unprocessedMessages(shards)).toEqual([])
      expect(reads()).toBe(2)
      // a refresh answered: Sharding knows which locks it kept; reads go through again
      yield* locks.refresh(self, shards)
      yield* storage.unprocessedMessages(shards)
      expect(reads()).toBe(3)

      // frozen again, the beat first to wake: the same
      freeze(1_000)
      yield* Effect.sleep("300 millis")
      expect(yield* storage.unprocessedMessages(shards)).toEqual([])
      expect(reads()).toBe(3)
      yield* locks.refresh(self, [])
      yield* storage.unprocessedMessages(shards)
      expect(reads()).toBe(4)
    })
  )

  it.scopedLive("a pause shorter than the stall changes nothing", () =>
    Effect.gen(function* () {
      const { storage, reads } = yield* guarded("1500 millis")
      freeze(700)
      yield* storage.unprocessedMessages(shards)
      yield* Effect.sleep("300 millis")
      yield* storage.unprocessedMessages(shards)
      expect(reads()).toBe(2)
    })
  )

  it("the stall: the lock's life less one refresh, at least four beats", () => {
    expect(Duration.toMillis(StallGuard.stallOf("3 seconds", "1 second"))).toBe(2_000)
    expect(Duration.toMillis(StallGuard.stallOf("1 second", "1 second"))).toBe(1_000)
  })
})
