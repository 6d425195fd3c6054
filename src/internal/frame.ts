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

const EMPTY = Buffer.alloc(0)

/** Encode one frame. */
export const encode = (options: FrameOptions, command: number, body: Uint8Array): Buffer => {
  const out = Buffer.allocUnsafe(HEADER_SIZE + body.length)
  out[0] = options.head[0]
  out[1] = options.head[1]
  out[2] = options.head[2]
  out[3] = options.head[3]
  out[4] = options.protoVersion
  out.writeUInt32BE(options.serverVersion >>> 0, 5)
  out.writeUInt32BE(body.length + 4, 9)
  out.writeUInt32BE(command >>> 0, 13)
  out.set(body, HEADER_SIZE)
  return out
}

/**
 * A streaming decoder: feed it chunks in any split, get whole frames back. A header that does
 * not match, a length < 4 or a length above the maximum is reported at once, as soon as the
 * 17 header bytes are in: the body is never buffered.
 */
export class Decoder {
  private buffer: Buffer = EMPTY
  private failed: FrameViolation | undefined = undefined
  constructor(readonly options: FrameOptions = defaultFrameOptions) {}

  /** The violation that stopped this decoder, if any. */
  get violation(): FrameViolation | undefined {
    return this.failed
  }

  /** Bytes held waiting for the rest of a frame. */
  get buffered(): number {
    return this.buffer.length
  }

  /**
   * Push a chunk; `onFrame` is called for each complete frame in order. Returns a violation (and
   * stops) if the stream is bad; never throws on any input.
   */
  push(chunk: Uint8Array, onFrame: (command: number, body: Uint8Array) => void): FrameViolation | undefined {
    if (this.failed !== undefined) return this.failed
    let buf: Buffer
    const owned = this.buffer.length !== 0
    if (!owned) {
      buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    } else {
      buf = Buffer.concat([this.buffer, chunk])
    }
    const o = this.options
    let offset = 0
    while (buf.length - offset >= HEADER_SIZE) {
      if (
        buf[offset] !== o.head[0] ||
        buf[offset + 1] !== o.head[1] ||
        buf[offset + 2] !== o.head[2] ||
        buf[offset + 3] !== o.head[3] ||
        buf[offset + 4] !== o.protoVersion ||
        buf.readUInt32BE(offset + 5) !== o.serverVersion >>> 0
      ) {
        return this.fail({
          reason: "BadHeader",
          detail: `header ${buf.subarray(offset, offset + 9).toString("hex")} does not match head ${o.head.join(",")} / versions ${o.protoVersion},${o.serverVersion}`
        })
      }
      const length = buf.readUInt32BE(offset + 9)
      if (length < 4) return this.fail({ reason: "LengthTooSmall", detail: `length ${length} < 4` })
      if (length - 4 > o.maxLength) {
        return this.fail({
          reason: "LengthTooLarge",
          detail: `body of ${length - 4} bytes exceeds the maximum of ${o.maxLength}`
        })
      }
      const end = offset + HEADER_SIZE + length - 4
      if (end > buf.length) break
      const command = buf.readUInt32BE(offset + 13)
      const body = buf.subarray(offset + HEADER_SIZE, end)
      offset = end
      onFrame(command, body)
    }
    const rest = buf.length - offset
    // a wrong head byte or protocol version is refused before the 17 header bytes are all in
    for (let i = 0; i < rest && i < 5; i++) {
      const expected = i < 4 ? o.head[i] : o.protoVersion
      if (buf[offset + i] !== expected) {
        return this.fail({
          reason: "BadHeader",
          detail: `byte ${i} of the header is ${buf[offset + i]}, expected ${expected}`
        })
      }
    }
    // keep only the unfinished frame; copy it when it is a slice of the caller's chunk
    this.buffer = rest === 0 ? EMPTY : owned ? buf.subarray(offset) : Buffer.from(buf.subarray(offset))
    return undefined
  }

  private fail(violation: FrameViolation): FrameViolation {
    this.failed = violation
    this.buffer = EMPTY
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
