/**
 * The flusher: batches under a lease (renewed while a batch runs), `flush()` until the journal
 * slots that existed at the start are done.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { FencedOut } from "./fence.js"
import { type Batch, type FlushState, flushBatch, type Parts } from "./flushBatch.js"
import { type Ctx, newVersion } from "./repositoryContext.js"
import type { FlushResult, RepositoryError } from "./repositoryModel.js"

export const makeFlusher = <A>(ctx: Ctx<A>, parts: Parts, state: FlushState, writeThrough: boolean) =>
  Effect.gen(function* () {
    const { mem, table, keys, leaseTtl, leaseRenewEvery, holeTimeout, m, q, fail } = ctx
    const { readFence } = parts.fence
    const { readCounter } = parts.journal
    const { release } = parts.locks
    const localLock = yield* Effect.makeSemaphore(1)
    const _batch: (token: number) => Effect.Effect<Batch, RepositoryError | FencedOut> = (token) =>
      flushBatch(ctx, parts, state, token)
    /**
     * Takes the flusher lease and a fencing token above every token the database has seen (the
     * cache counter is moved past it if the cache lost it).
     */
    const takeLease = Effect.gen(function* () {
      const holder = newVersion()
      if (!(yield* m(mem.add(keys.lease, holder, { ttl: leaseTtl })))) return undefined
      let token = yield* m(mem.incr(keys.fence))
      const stored = (yield* q(readFence)).token
      if (token <= stored) token = yield* m(mem.incr(keys.fence, stored - token + 1))
      return { holder, token }
    })

    /** Renews the lease every third of its ttl; fails when it was lost (the batch then stops). */
    const renewLease = (holder: string) =>
      Effect.sleep(leaseRenewEvery).pipe(
        Effect.zipRight(m(mem.expireIf(keys.lease, holder, leaseTtl))),
        Effect.flatMap((still) =>
          still ? Effect.void : Effect.fail(new FencedOut({ message: `${table}: the flush lease was lost` }))
        ),
        Effect.forever
      )

    /**
     * One batch under the flusher lease; `undefined` when another node holds the lease or this
     * flusher was fenced out (a newer flusher wrote; nothing of this batch was applied).
     */
    const leasedBatch = localLock.withPermits(1)(
      Effect.acquireUseRelease(
        takeLease,
        (lease) =>
          lease === undefined
            ? Effect.succeed(undefined)
            : // (the renewer is interruptible even in the final flush, a finalizer)
              Effect.raceFirst(_batch(lease.token), Effect.interruptible(renewLease(lease.holder))).pipe(
                Effect.catchTag("FencedOut", (e) => Effect.as(Effect.logWarning(e.message), undefined))
              ),
        (lease) => (lease === undefined ? Effect.void : release(keys.lease, lease.holder))
      )
    )

    /** Flushes until the journal slots that existed at the start are done. */
    const flush: Effect.Effect<FlushResult, RepositoryError> = writeThrough
      ? Effect.succeed({ written: 0 })
      : Effect.gen(function* () {
          const target = yield* readCounter(keys.seq)
          let written = 0
          const deadline =
            (yield* Clock.currentTimeMillis) +
            Duration.toMillis(holeTimeout) +
            Duration.toMillis(leaseTtl) * 2
          // waits while blocked (lease elsewhere, a journal hole) back off from 10 ms to 500 ms
          let pause = 10
          while (true) {
            const batch = yield* leasedBatch
            if (batch !== undefined) {
              written += batch.written
              if (batch.done >= target) return { written }
              if (!batch.blocked) {
                pause = 10
                continue
              }
            }
            if ((yield* Clock.currentTimeMillis) > deadline) {
              return yield* fail(
                "LockTimeout",
                "flush did not finish (flusher lease held elsewhere or a journal hole)"
              )
            }
            yield* Effect.sleep(Duration.millis(pause))
            pause = Math.min(500, pause * 2)
          }
        })

    const pending = Effect.map(Effect.all([readCounter(keys.seq), readCounter(keys.done)]), ([seq, done]) =>
      Math.max(0, seq - done)
    )
    return { flush, pending }
  })
