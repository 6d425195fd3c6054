/**
 * Row locks and leases in the cache: `add` with a ttl, re-asserted before a write, released by an
 * atomic compare-and-delete.
 */

import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import { type Ctx, newVersion } from "./repositoryContext.js"
import type { RepositoryError } from "./repositoryModel.js"

export const makeLocks = <A>(ctx: Ctx<A>) => {
  const { mem, table, lockTimeout, lockTtl, m, fail } = ctx
  /**
   * Takes a lock key (`add` with a ttl), retrying until `lockTimeout`. Runs inside
   * `acquireUseRelease` (uninterruptible): each `add` completes, so a lock that was set is always
   * returned and released; only the pauses between attempts can be interrupted.
   */
  const acquire = (key: string, ttl: Duration.Duration) =>
    Effect.gen(function* () {
      const token = newVersion()
      const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(lockTimeout)
      while (!(yield* m(mem.add(key, token, { ttl })))) {
        if ((yield* Clock.currentTimeMillis) >= deadline) {
          return yield* fail("LockTimeout", `lock "${key}" still held after ${Duration.format(lockTimeout)}`)
        }
        yield* Effect.interruptible(Effect.sleep(Duration.millis(2 + (yield* Random.next) * 4)))
      }
      return token
    })
  /** Atomic compare-and-delete: a lock that expired and was taken by another is left alone. */
  const release = (key: string, token: string) =>
    mem.deleteIf(key, token).pipe(
      Effect.asVoid,
      Effect.catchAll((e) => Effect.logWarning(`${table}: could not release lock ${key}: ${e.message}`))
    )
  /**
   * Runs `use` holding the lock. `use` gets `held`: it re-asserts (and renews) the lock right
   * before a write, failing with `LockTimeout` when the lock expired meanwhile (a slow database
   * load), so two writers can never both commit under one lock.
   */
  const withLock = <X, E, R>(
    key: string,
    use: (held: Effect.Effect<void, RepositoryError>) => Effect.Effect<X, E, R>
  ) =>
    Effect.acquireUseRelease(
      acquire(key, lockTtl),
      (token) =>
        use(
          Effect.flatMap(m(mem.expireIf(key, token, lockTtl)), (still) =>
            still
              ? Effect.void
              : fail("LockTimeout", `lock "${key}" expired before the write (the write is not applied)`)
          )
        ),
      (token) => release(key, token)
    )
  return { acquire, release, withLock }
}
