/**
 * Checks a client body passes before any recursive decoder sees it: a linear scan of JSON for
 * its nesting depth, and the msgpack walk (`msgpackWalk.ts`: depth, lengths that fit in the body,
 * exactly one value, and only the timestamp and `undefined` extensions). Plain loops with an
 * explicit stack, so a hostile body cannot blow the call stack here either.
 */
import * as MsgpackWalk from "../wire/msgpackWalk.js"

/** Default nesting depth accepted in a client body. */
export const DEFAULT_MAX_DEPTH = 64

/**
 * Whether a JSON text nests `[` / `{` deeper than `maxDepth` (brackets inside strings do not
 * count). Malformed text is left to `JSON.parse` to reject.
 */
export const jsonTooDeep = (bytes: Uint8Array, maxDepth: number): boolean => {
  let depth = 0
  let inString = false
  const n = bytes.length
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return true
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
  return false
}

/** Why a msgpack body is refused before decoding. */
export type MsgpackProblem = MsgpackWalk.Problem

/** Client bodies: timestamps (Date) and undefined; no records, structures, shared references. */
const bodyExtensions: MsgpackWalk.ExtensionPolicy = (type) =>
  type === 0xff || type === 0x00 ? false : undefined

/**
 * The problem of a msgpack body, or undefined when msgpackr may decode it. `stack` is the walk's
 * scratch space (at least `maxDepth` long; a reader keeps one instead of allocating per body).
 */
export const msgpackProblem = (
  b: Uint8Array,
  maxDepth: number,
  stack: Float64Array = new Float64Array(maxDepth)
): MsgpackProblem | undefined => MsgpackWalk.check(b, 0, b.length, maxDepth, stack, bodyExtensions)
