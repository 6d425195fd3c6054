/**
 * firefly's client frame (LiberateProtocol / DataPackProtoc), as a pure streaming codec.
 *
 * | bytes | field                                     |
 * |-------|-------------------------------------------|
 * | 0–3   | head bytes HEAD_0..HEAD_3                  |
 * | 4     | protoVersion (uint8)                       |
 * | 5–8   | serverVersion (uint32 BE)                  |
 * | 9–12  | length = body length + 4 (uint32 BE)       |
 * | 13–16 | commandId (uint32 BE)                      |
 *
 * Plain code on purpose: this is the hot path of every client byte.
 */

export const HEADER_SIZE = 17

/**
 * The command id of hotaru's error frame: the server answers it, in the failed request's place,
 * when a handler fails, a body does not decode, or a command is unknown. Its body is UTF-8 JSON,
 * see `NetCommand.ErrorBody`.
 *
 * @since 0.1.0
 * @category utils
 */
export const ERROR_COMMAND = 0xffffffff

/**
 * Command ids from this one up are the edge's own (system frames); a `NetCommand` cannot take
 * them. `ERROR_COMMAND` is one.
 *
 * @since 0.1.0
 * @category utils
 */
export const SYSTEM_COMMANDS = 0xfffffff0

/**
 * The system frame the server sends a client when its connection is bound (`Session.bind`) and
 * resume is on: JSON `{ "uid", "token" }`, the session's resume token.
 *
 * @since 0.1.0
 * @category utils
 */
export const SESSION_COMMAND = 0xfffffffe

/**
 * The system frame a client sends first on a new connection to resume its session: JSON
 * `{ "token", "uid", "received" }`; the server answers under the same id, JSON
 * `{ "_tag": "ResumeOk", "requests", "token" }` or `{ "_tag": "ResumeRefused", "reason" }`.
 *
 * @since 0.1.0
 * @category utils
 */
export const RESUME_COMMAND = 0xfffffffd

/**
 * The 17-byte frame header a netport and its clients agree on: the four head bytes, the protocol
 * and server versions, and the largest body accepted (default 1 MiB).
 *
 * @since 0.1.0
 * @category models
 */
export interface FrameOptions {
  readonly head: readonly [number, number, number, number]
  readonly protoVersion: number
  readonly serverVersion: number
  /** Largest body accepted, in bytes (the length field may be at most this + 4). */
  readonly maxLength: number
}

export const defaultFrameOptions: FrameOptions = {
  head: [0, 0, 0, 0],
  protoVersion: 0,
  serverVersion: 0,
  maxLength: 1024 * 1024
}

export interface Frame {
  readonly command: number
  readonly body: Uint8Array
}

/** Why a stream was rejected. After a violation the decoder accepts nothing more. */
export interface FrameViolation {
  readonly reason: "BadHeader" | "LengthTooSmall" | "LengthTooLarge"
  readonly detail: string
}

/** Node's `Buffer` where there is one (pooled, unzeroed allocation on the server); a browser has none. */
const NodeBuffer = (globalThis as { readonly Buffer?: typeof Buffer }).Buffer
const alloc: (size: number) => Uint8Array =
  NodeBuffer === undefined ? (size) => new Uint8Array(size) : (size) => NodeBuffer.allocUnsafe(size)

const writeU32 = (b: Uint8Array, value: number, off: number): void => {
  b[off] = value >>> 24
  b[off + 1] = (value >>> 16) & 0xff
  b[off + 2] = (value >>> 8) & 0xff
  b[off + 3] = value & 0xff
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")

const EMPTY = new Uint8Array(0)

/** Chunks smaller than this are copied into an owned buffer rather than kept (see `Decoder`). */
const COALESCE = 4096

/** Encode one frame. */
export const encode = (options: FrameOptions, command: number, body: Uint8Array): Uint8Array => {
  const out = alloc(HEADER_SIZE + body.length)
  out[0] = options.head[0]
  out[1] = options.head[1]
  out[2] = options.head[2]
  out[3] = options.head[3]
  out[4] = options.protoVersion
  writeU32(out, options.serverVersion >>> 0, 5)
  writeU32(out, body.length + 4, 9)
  writeU32(out, command >>> 0, 13)
  out.set(body, HEADER_SIZE)
  return out
}

/** The violation of a complete header at `off`, if any (no allocation when it is fine). */
const headerViolation = (o: FrameOptions, buf: Uint8Array, off: number): FrameViolation | undefined => {
  if (
    buf[off] !== o.head[0] ||
    buf[off + 1] !== o.head[1] ||
    buf[off + 2] !== o.head[2] ||
    buf[off + 3] !== o.head[3] ||
    buf[off + 4] !== o.protoVersion ||
    readU32(buf, off + 5) !== o.serverVersion >>> 0
  ) {
    return {
      reason: "BadHeader",
      detail: `header ${hex(buf.subarray(off, off + 9))} does not match head ${o.head.join(",")} / versions ${o.protoVersion},${o.serverVersion}`
    }
  }
  const length = readU32(buf, off + 9)
  if (length < 4) return { reason: "LengthTooSmall", detail: `length ${length} < 4` }
  if (length - 4 > o.maxLength) {
    return {
      reason: "LengthTooLarge",
      detail: `body of ${length - 4} bytes exceeds the maximum of ${o.maxLength}`
    }
  }
  return undefined
}

/** The violation of the first `n` (< 5) bytes of a header, if any. */
const partialViolation = (
  o: FrameOptions,
  buf: Uint8Array,
  off: number,
  n: number
): FrameViolation | undefined => {
  for (let i = 0; i < n && i < 5; i++) {
    const expected = i < 4 ? o.head[i] : o.protoVersion
    if (buf[off + i] !== expected) {
      return {
        reason: "BadHeader",
        detail: `byte ${i} of the header is ${buf[off + i]}, expected ${expected}`
      }
    }
  }
  return undefined
}

const readU32 = (b: Uint8Array, off: number): number =>
  (b[off]! * 0x1000000 + ((b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!)) >>> 0

/**
 * Called for each complete frame; return `false` to stop (the rest stays buffered until
 * `resume`). The body is a view that stays valid after the call. `context` is what `push` was
 * given (one function for every connection, each its own context: no closure per connection).
 */
export type OnFrame<C = void> = (command: number, body: Uint8Array, context: C) => boolean | void

/**
 * A streaming decoder: feed it chunks in any split, get whole frames back. A header that does
 * not match, a length < 4 or a length above the maximum is reported at once, as soon as the
 * 17 header bytes are in: the body is never buffered.
 *
 * Reassembly is linear: pending bytes are a list of chunks (small ones coalesced into an owned
 * buffer, so a byte-at-a-time sender costs no more than its bytes) and a frame split across
 * chunks is copied once, when it is complete. Chunks are kept, not copied: the caller must not
 * reuse a buffer it pushed.
 */
export class Decoder {
  /** Pending chunks; `chunks[first]` is read from `offset`. Undefined while nothing is pending. */
  private chunks: Array<Uint8Array> | undefined = undefined
  private first = 0
  private offset = 0
  private total = 0
  /** Owned buffer the last chunk is a view of, with how much of it is used. */
  private tail: Uint8Array | undefined = undefined
  private tailUsed = 0
  /** Size (header + body) of the frame whose header was checked, 0 if none. */
  private frameSize = 0
  private stopped = false
  private failed: FrameViolation | undefined = undefined
  constructor(readonly options: FrameOptions = defaultFrameOptions) {}

  /** The violation that stopped this decoder, if any. */
  get violation(): FrameViolation | undefined {
    return this.failed
  }

  /** Bytes held: the rest of an unfinished frame, or frames not parsed after a stop. */
  get buffered(): number {
    return this.total
  }

  /** Whether the last push/resume was stopped by `onFrame` (frames may be waiting). */
  get isStopped(): boolean {
    return this.stopped
  }

  /**
   * Push a chunk; `onFrame` is called for each complete frame in order until it returns
   * `false`. Returns a violation (and stops for good) if the stream is bad; never throws on any
   * input (exceptions of `onFrame` propagate).
   */
  push<C = void>(chunk: Uint8Array, onFrame: OnFrame<C>, context?: C): FrameViolation | undefined {
    if (this.failed !== undefined) return this.failed
    const buf = chunk
    if (this.total !== 0) {
      this.append(buf)
      return this.resume(onFrame, context)
    }
    // fast path: nothing pending, frames are read in place from the chunk
    this.stopped = false
    const o = this.options
    const n = buf.length
    let off = 0
    while (n - off >= HEADER_SIZE) {
      const bad = headerViolation(o, buf, off)
      if (bad !== undefined) return this.fail(bad)
      const end = off + HEADER_SIZE + readU32(buf, off + 9) - 4
      if (end > n) break
      const command = readU32(buf, off + 13)
      const body = buf.subarray(off + HEADER_SIZE, end)
      off = end
      if (onFrame(command, body, context as C) === false) {
        this.stopped = true
        break
      }
    }
    if (off === n) return undefined
    if (!this.stopped) {
      const bad = partialViolation(o, buf, off, n - off)
      if (bad !== undefined) return this.fail(bad)
    }
    this.append(off === 0 ? buf : buf.subarray(off))
    return undefined
  }

  /** Parse what is buffered (after `onFrame` stopped); same contract as `push`. */
  resume<C = void>(onFrame: OnFrame<C>, context?: C): FrameViolation | undefined {
    if (this.failed !== undefined) return this.failed
    this.stopped = false
    const o = this.options
    while (this.total > 0) {
      if (this.frameSize === 0) {
        if (this.total < HEADER_SIZE) {
          const head = this.gather(this.total)
          const bad = partialViolation(o, head, 0, head.length)
          return bad === undefined ? undefined : this.fail(bad)
        }
        const head = this.gather(HEADER_SIZE)
        const bad = headerViolation(o, head, 0)
        if (bad !== undefined) return this.fail(bad)
        this.frameSize = HEADER_SIZE + readU32(head, 9) - 4
      }
      if (this.total < this.frameSize) return undefined
      const frame = this.gather(this.frameSize)
      this.consume(this.frameSize)
      this.frameSize = 0
      if (onFrame(readU32(frame, 13), frame.subarray(HEADER_SIZE), context as C) === false) {
        this.stopped = true
        return undefined
      }
    }
    return undefined
  }

  /** Keep a chunk without parsing it (while the caller does not want frames). */
  append(buf: Uint8Array): void {
    const n = buf.length
    if (n === 0) return
    if (this.chunks === undefined) this.chunks = []
    const chunks = this.chunks
    if (n < COALESCE) {
      // small: copy into the owned tail buffer (a new one when it is full)
      const tail = this.tail
      if (tail !== undefined && tail.length - this.tailUsed >= n) {
        tail.set(buf, this.tailUsed)
        this.tailUsed += n
        chunks[chunks.length - 1] = tail.subarray(0, this.tailUsed)
      } else {
        // small sizes come from Node's buffer pool; a trickle still costs O(bytes / 512) chunks
        const fresh = alloc(Math.min(COALESCE, Math.max(512, n * 2)))
        fresh.set(buf, 0)
        this.tail = fresh
        this.tailUsed = n
        chunks.push(fresh.subarray(0, n))
      }
    } else {
      this.tail = undefined
      chunks.push(buf)
    }
    this.total += n
  }

  /** The first `size` pending bytes as one buffer: a view when they are in one chunk, else a copy. */
  private gather(size: number): Uint8Array {
    const chunks = this.chunks!
    const head = chunks[this.first]!
    if (head.length - this.offset >= size) return head.subarray(this.offset, this.offset + size)
    const out = alloc(size)
    let filled = 0
    let i = this.first
    let off = this.offset
    while (filled < size) {
      const c = chunks[i]!
      const take = Math.min(c.length - off, size - filled)
      out.set(c.subarray(off, off + take), filled)
      filled += take
      i++
      off = 0
    }
    return out
  }

  /** Drop the first `size` pending bytes. */
  private consume(size: number): void {
    const chunks = this.chunks!
    this.total -= size
    if (this.total === 0) {
      this.chunks = undefined
      this.first = 0
      this.offset = 0
      this.tail = undefined
      this.tailUsed = 0
      return
    }
    let left = size
    while (left > 0) {
      const c = chunks[this.first]!
      const avail = c.length - this.offset
      if (avail > left) {
        this.offset += left
        return
      }
      left -= avail
      chunks[this.first] = EMPTY
      this.first++
      this.offset = 0
    }
    if (this.first > 32 && this.first * 2 > chunks.length) {
      chunks.splice(0, this.first)
      this.first = 0
    }
  }

  private fail(violation: FrameViolation): FrameViolation {
    this.failed = violation
    this.chunks = undefined
    this.first = 0
    this.offset = 0
    this.total = 0
    this.tail = undefined
    this.frameSize = 0
    return violation
  }
}

/** Resolve partial frame settings against the defaults. */
export const frameOptions = (partial?: Partial<FrameOptions>): FrameOptions => ({
  head: partial?.head ?? defaultFrameOptions.head,
  protoVersion: partial?.protoVersion ?? defaultFrameOptions.protoVersion,
  serverVersion: partial?.serverVersion ?? defaultFrameOptions.serverVersion,
  maxLength: partial?.maxLength ?? defaultFrameOptions.maxLength
})

/** `encode` for server-only code, which runs under Node where frames are `Buffer`s. */
export const encodeBuffer = (options: FrameOptions, command: number, body: Uint8Array): Buffer =>
  encode(options, command, body) as Buffer
