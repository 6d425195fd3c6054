/**
 * Rate-limited logging for events a remote peer can trigger at will (bad frames, refused
 * connections, failing handlers): per key, at most `burst` lines per `window`; the rest are
 * counted and summed up in the next line of that key (or by `flush` once the window is over).
 * Keys must come from a fixed set (never from client input), so the table stays small.
 */
import type { Clock } from "effect"

export interface RateLimitedLog {
  /**
   * Log under `key` unless it already logged `burst` lines in this window; `line` is only called
   * for a line that is written. Returns whether it was written.
   */
  readonly report: (key: string, line: (suppressedBefore: number) => void) => boolean
  /** Write a summary for each key whose window is over with lines suppressed. */
  readonly flush: (summary: (key: string, suppressed: number) => void) => void
}

interface Entry {
  windowStart: number
  written: number
  suppressed: number
}

export const make = (options: {
  readonly clock: Clock.Clock
  /** Window length in milliseconds (default 10 s). */
  readonly window?: number
  /** Lines per key and window (default 5). */
  readonly burst?: number
}): RateLimitedLog => {
  const window = options.window ?? 10_000
  const burst = options.burst ?? 5
  const entries = new Map<string, Entry>()
  return {
    report: (key, line) => {
      const now = options.clock.unsafeCurrentTimeMillis()
      let entry = entries.get(key)
      if (entry === undefined) {
        entry = { windowStart: now, written: 0, suppressed: 0 }
        entries.set(key, entry)
      } else if (now - entry.windowStart >= window) {
        entry.windowStart = now
        entry.written = 0
      }
      if (entry.written >= burst) {
        entry.suppressed++
        return false
      }
      entry.written++
      const suppressed = entry.suppressed
      entry.suppressed = 0
      line(suppressed)
      return true
    },
    flush: (summary) => {
      const now = options.clock.unsafeCurrentTimeMillis()
      for (const [key, entry] of entries) {
        if (now - entry.windowStart < window) continue
        if (entry.suppressed > 0) summary(key, entry.suppressed)
        entries.delete(key)
      }
    }
  }
}
