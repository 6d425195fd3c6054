/**
 * The one msgpack structure check, before any msgpack parser sees hostile bytes: client bodies
 * (`bodyGuard.ts`) and node link frames (`link.ts`) both walk their bytes here, each with its own
 * extension policy.
 *
 * The walk is iterative (no recursion, whatever the nesting), builds no value and reads each
 * header once. A value passes when it is well formed, takes exactly `[start, end)`, nests at most
 * `maxDepth` containers deep (every array, map and wrapping extension counts, empty or not), every
 * count is plausible for the bytes left (each element takes at least one byte) and every
 * extension type is one the policy accepts.
 *
 * @internal
 */

/** Why a value was refused: too deep, or not msgpack the reader accepts. */
export interface Problem {
  readonly kind: "Depth" | "Syntax"
  readonly detail: string
}

/**
 * Which msgpack extension types a reader accepts: `undefined` refuses the type, `false` accepts
 * its bytes as opaque, `true` accepts it as wrapping the value that follows (msgpackr's Set and
 * Error), which is walked like a container's element.
 */
export type ExtensionPolicy = (type: number) => boolean | undefined

const u16 = (buf: Uint8Array, pos: number): number => (buf[pos]! << 8) | buf[pos + 1]!
const u32 = (buf: Uint8Array, pos: number): number =>
  buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!)

const syntax = (detail: string): Problem => ({ kind: "Syntax", detail })

/**
 * Check the one msgpack value in `buf[start, end)`. `stack` is scratch space with room for
 * `maxDepth` entries (allocate it once per reader: the walk itself allocates nothing unless it
 * refuses). Returns the problem, or undefined when the value is fine to decode.
 */
export const check = (
  buf: Uint8Array,
  start: number,
  end: number,
  maxDepth: number,
  stack: Float64Array,
  extensions: ExtensionPolicy
): Problem | undefined => {
  let pos = start
  let depth = 0
  // values still to read at the innermost open level; level 0 holds the one top value
  let left = 1
  while (true) {
    while (left === 0) {
      if (depth === 0)
        return pos === end ? undefined : syntax(`msgpack: trailing bytes after the value at ${pos}`)
      left = stack[--depth]!
    }
    left--
    if (pos >= end) return syntax(`msgpack ends early at byte ${pos - start}`)
    const token = buf[pos++]!
    let skip = 0
    let items = -1
    if (token < 0x80 || token >= 0xe0) {
      continue // fixint
    } else if (token < 0xa0) {
      items = token < 0x90 ? (token & 0x0f) * 2 : token & 0x0f // fixmap, fixarray
    } else if (token < 0xc0) {
      skip = token & 0x1f // fixstr
    } else {
      const room = end - pos
      switch (token) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          continue
        case 0xcc:
        case 0xd0:
          skip = 1
          break
        case 0xcd:
        case 0xd1:
          skip = 2
          break
        case 0xca:
        case 0xce:
        case 0xd2:
          skip = 4
          break
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip = 8
          break
        case 0xc4:
        case 0xd9:
          if (room < 1) return syntax(`msgpack ends early at byte ${pos - start}`)
          skip = 1 + buf[pos]!
          break
        case 0xc5:
        case 0xda:
          if (room < 2) return syntax(`msgpack ends early at byte ${pos - start}`)
          skip = 2 + u16(buf, pos)
          break
        case 0xc6:
        case 0xdb:
          if (room < 4) return syntax(`msgpack ends early at byte ${pos - start}`)
          skip = 4 + u32(buf, pos)
          break
        case 0xdc:
        case 0xde:
          if (room < 2) return syntax(`msgpack ends early at byte ${pos - start}`)
          items = u16(buf, pos) * (token === 0xde ? 2 : 1)
          pos += 2
          break
        case 0xdd:
        case 0xdf:
          if (room < 4) return syntax(`msgpack ends early at byte ${pos - start}`)
          items = u32(buf, pos) * (token === 0xdf ? 2 : 1)
          pos += 4
          break
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
        case 0xc7:
        case 0xc8:
        case 0xc9: {
          const header = token >= 0xd4 ? 0 : token === 0xc7 ? 1 : token === 0xc8 ? 2 : 4
          if (room < header + 1) return syntax(`msgpack ends early at byte ${pos - start}`)
          const length =
            token >= 0xd4
              ? 1 << (token - 0xd4)
              : token === 0xc7
                ? buf[pos]!
                : token === 0xc8
                  ? u16(buf, pos)
                  : u32(buf, pos)
          const type = buf[pos + header]!
          const wraps = extensions(type)
          if (wraps === undefined) return syntax(`msgpack extension type ${type} is not accepted`)
          skip = header + 1 + length
          if (wraps) items = 1
          break
        }
        default:
          return syntax(`byte 0x${token.toString(16)} at ${pos - 1 - start} is not msgpack`)
      }
    }
    if (skip > 0) {
      if (skip > end - pos) return syntax(`msgpack ends early at byte ${end - start}`)
      pos += skip
    }
    if (items >= 0) {
      if (depth >= maxDepth) return { kind: "Depth", detail: `msgpack nested deeper than ${maxDepth}` }
      if (items > 0) {
        // every element takes at least one byte
        if (items > end - pos) return syntax(`msgpack: a count of ${items} is larger than the bytes left`)
        stack[depth++] = left
        left = items
      }
    }
  }
}
