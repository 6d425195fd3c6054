/**
 * Checks a client body passes before any recursive decoder sees it: a linear scan of JSON for
 * its nesting depth, and an iterative walk of msgpack headers (depth, lengths that fit in the
 * body, and only the timestamp and `undefined` extensions). Plain loops with an explicit stack, so a hostile body
 * cannot blow the call stack here either.
 */

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
export interface MsgpackProblem {
  readonly kind: "Depth" | "Syntax"
  readonly detail: string
}

/** The extensions accepted from clients: msgpack's timestamp, and msgpackr's `undefined`. */
const TIMESTAMP = 0xff
const UNDEFINED = 0x00

const uint = (b: Uint8Array, pos: number, size: number): number => {
  let v = 0
  for (let i = 0; i < size; i++) v = v * 256 + b[pos + i]!
  return v
}

/**
 * Walk one msgpack value without building it. Refused: nesting deeper than `maxDepth`, a length
 * or element count the rest of the body cannot hold, the unused byte 0xc1, and every extension
 * but timestamps and msgpackr's `undefined` (so msgpackr's records, structures, shared
 * references, bundles, errors and regexps never reach its decoder). Returns undefined when the
 * body may be decoded.
 */
export const msgpackProblem = (b: Uint8Array, maxDepth: number): MsgpackProblem | undefined => {
  const n = b.length
  const stack: Array<number> = []
  let remaining = 1
  let pos = 0
  const truncated = (): MsgpackProblem => ({ kind: "Syntax", detail: `msgpack ends early at byte ${pos}` })
  while (true) {
    while (remaining === 0) {
      if (stack.length === 0) return undefined
      remaining = stack.pop()!
    }
    if (pos >= n) return truncated()
    remaining--
    const t = b[pos++]!
    let skip = 0
    let count = -1
    let ext = -1
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) {
      // fixint, nil, booleans
    } else if (t <= 0x8f) {
      count = (t & 0x0f) * 2
    } else if (t <= 0x9f) {
      count = t & 0x0f
    } else if (t <= 0xbf) {
      skip = t & 0x1f
    } else {
      switch (t) {
        case 0xc4:
        case 0xd9:
          if (pos + 1 > n) return truncated()
          skip = b[pos]!
          pos += 1
          break
        case 0xc5:
        case 0xda:
          if (pos + 2 > n) return truncated()
          skip = uint(b, pos, 2)
          pos += 2
          break
        case 0xc6:
        case 0xdb:
          if (pos + 4 > n) return truncated()
          skip = uint(b, pos, 4)
          pos += 4
          break
        case 0xc7:
        case 0xc8:
        case 0xc9: {
          const size = t === 0xc7 ? 1 : t === 0xc8 ? 2 : 4
          if (pos + size + 1 > n) return truncated()
          skip = uint(b, pos, size)
          ext = b[pos + size]!
          pos += size + 1
          break
        }
        case 0xca:
          skip = 4
          break
        case 0xcb:
          skip = 8
          break
        case 0xcc:
        case 0xd0:
          skip = 1
          break
        case 0xcd:
        case 0xd1:
          skip = 2
          break
        case 0xce:
        case 0xd2:
          skip = 4
          break
        case 0xcf:
        case 0xd3:
          skip = 8
          break
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          if (pos + 1 > n) return truncated()
          ext = b[pos]!
          pos += 1
          skip = 1 << (t - 0xd4)
          break
        case 0xdc:
        case 0xde:
          if (pos + 2 > n) return truncated()
          count = uint(b, pos, 2) * (t === 0xde ? 2 : 1)
          pos += 2
          break
        case 0xdd:
        case 0xdf:
          if (pos + 4 > n) return truncated()
          count = uint(b, pos, 4) * (t === 0xdf ? 2 : 1)
          pos += 4
          break
        default:
          return { kind: "Syntax", detail: `byte 0x${t.toString(16)} at ${pos - 1} is not msgpack` }
      }
    }
    if (ext !== -1 && ext !== TIMESTAMP && ext !== UNDEFINED) {
      return { kind: "Syntax", detail: `msgpack extension type ${ext} is not accepted` }
    }
    if (skip > n - pos) return truncated()
    pos += skip
    if (count !== -1) {
      if (stack.length + 1 > maxDepth) {
        return { kind: "Depth", detail: `msgpack nested deeper than ${maxDepth}` }
      }
      // every element takes at least one byte
      if (count > n - pos) return truncated()
      if (count > 0) {
        stack.push(remaining)
        remaining = count
      }
    }
  }
}
