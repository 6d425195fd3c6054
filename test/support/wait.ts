/**
 * Waiting in tests on what can be observed, with a deadline, instead of sleeping a fixed time.
 */
import { Effect } from "effect"

/**
 * Call `f` every `intervalMs` until it gives a value (not `undefined`, not a rejection), or fail
 * after `timeoutMs` naming `what` and the last error seen.
 */
export const waitFor = async <A>(
  what: string,
  f: () => Promise<A | undefined>,
  timeoutMs: number,
  intervalMs = 150
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      // an attempt that never settles must not outlive the deadline
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("attempt still pending at the deadline")),
          deadline - Date.now()
        )
      })
      const value = await Promise.race([f(), late]).finally(() => clearTimeout(timer))
      if (value !== undefined) return value
    } catch (e) {
      last = e
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`)
}

/**
 * `waitFor` as an Effect, for a synchronous condition (a counter, a buffer's length): checks
 * `condition` every `intervalMs` (real time: use it in `it.live` tests) and dies naming `what`
 * after `timeoutMs`.
 */
export const until = (what: string, condition: () => boolean, timeoutMs: number, intervalMs = 20) =>
  Effect.asVoid(
    Effect.promise(() => waitFor(what, async () => (condition() ? true : undefined), timeoutMs, intervalMs))
  )
