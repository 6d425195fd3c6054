/**
 * One TCP link: frames out (packed at once behind their length, coalesced
 * into one write per tick), write backpressure (stop reading a peer that does
 * not take what it is sent, drop it past a cap), and frames in (length,
 * pre-authentication limits, `MsgpackWalk.check`, then decode in place).
 * Everything here runs on the socket's own callbacks: no fiber, no Effect.
 *
 * @internal
 */
import type * as Net from "node:net"
import * as Duration from "effect/Duration"
import * as Msgpackr from "msgpackr"
import * as MsgpackWalk from "../wire/msgpackWalk.js"
import { linkExtensions, packrOptions, RESERVE_HEADER, unpackrOptions } from "./frameCodec.js"
import { BaseLink, TransportError } from "./link.js"

/**
 * TLS material of the TCP transport (`TcpOptions.tls`): PEM text or buffers.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsOptions {
  /** This node's certificate chain. */
  readonly cert: string | Buffer
  /** Its private key. */
  readonly key: string | Buffer
  /** The cluster CA every peer's certificate must chain to (both directions). */
  readonly ca: string | Buffer
}

/**
 * Options of `Transport.layerTcp`: frame limits, write backpressure, TLS.
 *
 * @since 0.1.0
 * @category models
 */
export interface TcpOptions {
  /** Largest frame body of an authenticated link, in bytes; larger closes the link. Default 4 MiB. */
  readonly maxFrameBytes?: number | undefined
  /** Largest frame body before the peer authenticated. Default 4 KiB. */
  readonly helloFrameBytes?: number | undefined
  /** Deepest nesting of arrays and maps in one frame; deeper closes the link. Default 100. */
  readonly maxDepth?: number | undefined
  /** Stop reading from a peer while more than this many bytes wait to be written to it. Default 1 MiB. */
  readonly highWaterBytes?: number | undefined
  /** Close a link ("SlowPeer") whose unwritten bytes exceed this. Default 16 MiB. */
  readonly maxQueuedBytes?: number | undefined
  /** Mutual TLS on every link (listen and dial); off by default. */
  readonly tls?: TlsOptions | undefined
  /** How long a TLS handshake may take. Default 5 seconds. */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
}

/** Resolved limits of TCP links. */
export interface Limits {
  readonly maxFrameBytes: number
  readonly helloFrameBytes: number
  readonly maxDepth: number
  readonly highWaterBytes: number
  readonly maxQueuedBytes: number
}

/** Frames a link accepts before its peer authenticated (a handshake needs two). */
const HELLO_FRAMES = 4

/** The defaults of `TcpOptions`. */
export const tcpDefaults = {
  maxFrameBytes: 4 * 1024 * 1024,
  helloFrameBytes: 4 * 1024,
  maxDepth: 100,
  highWaterBytes: 1024 * 1024,
  maxQueuedBytes: 16 * 1024 * 1024,
  handshakeTimeout: Duration.seconds(5)
} as const

export class TcpLink extends BaseLink {
  private readonly packr = new Msgpackr.Packr(packrOptions)
  private readonly unpackr = new Msgpackr.Unpackr(unpackrOptions)
  private readonly stack: Float64Array
  private pending: Array<Buffer> = []
  private pendingBytes = 0
  private scheduled = false
  private paused = false
  private awaitingDrain = false
  /** What the socket held unwritten at the last flush (0 again once it drained). */
  private written = 0
  // partial input: chunks not yet forming a complete frame
  private partial: Array<Buffer> = []
  private partialBytes = 0
  private needed = 4
  // before authentication: the small frame limit and a frame budget
  private frameLimit: number
  private helloFrames = 0
  private authenticated = false

  constructor(
    id: number,
    peer: string,
    private readonly socket: Net.Socket,
    private readonly limits: Limits
  ) {
    super(id, peer)
    this.frameLimit = Math.min(limits.helloFrameBytes, limits.maxFrameBytes)
    this.stack = new Float64Array(limits.maxDepth + 1)
    socket.setNoDelay(true)
    socket.on("data", (chunk: Buffer) => this.onData(chunk))
    socket.on("end", () => this.unsafeClose("PeerClosed"))
    socket.on("close", () => this.unsafeClose("PeerClosed"))
    socket.on("error", (cause) => this.unsafeClose("SocketError", cause))
  }

  override unsafeAuthenticated = (): void => {
    this.authenticated = true
    this.frameLimit = this.limits.maxFrameBytes
  }

  override queuedBytes = (): number =>
    this.pendingBytes + (this.socket.destroyed ? 0 : this.socket.writableLength)

  unsafeSend = (message: unknown): void => {
    if (this.isClosed()) return
    // msgpackr packs successive messages one after the other into its own
    // buffer (never over an earlier result) and leaves the 4 reserved bytes in
    // front of each: the length goes there, no copy
    const frame = this.packr.pack(message, RESERVE_HEADER) as Buffer
    if (frame.length - 4 > this.limits.maxFrameBytes) {
      // the peer would close the link on it: fail this one message instead
      throw new TransportError({
        reason: "FrameTooLarge",
        address: this.peer,
        cause: new Error(
          `a message of ${frame.length - 4} bytes exceeds maxFrameBytes ${this.limits.maxFrameBytes}`
        )
      })
    }
    frame.writeUInt32BE(frame.length - 4, 0)
    this.pending.push(frame)
    this.pendingBytes += frame.length
    if (this.pendingBytes + this.written > this.limits.maxQueuedBytes) {
      this.unsafeClose("SlowPeer")
      return
    }
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
  }

  private flush = (): void => {
    this.scheduled = false
    if (this.pending.length === 0 || this.socket.destroyed) return
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes)
    this.pending = []
    this.pendingBytes = 0
    const flowing = this.socket.write(data)
    this.written = this.socket.writableLength
    if (!flowing) this.congested()
  }

  /** The socket holds unwritten data: past the high-water mark stop reading the peer, past the cap drop it. */
  private congested(): void {
    if (this.written > this.limits.maxQueuedBytes) {
      this.unsafeClose("SlowPeer")
      return
    }
    if (!this.awaitingDrain) {
      this.awaitingDrain = true
      this.socket.once("drain", this.onDrain)
    }
    if (!this.paused && this.written >= this.limits.highWaterBytes) {
      // a peer that does not take our replies gets no more requests read;
      // paused past the heartbeat timeout, the session drops it
      this.paused = true
      this.socket.pause()
    }
  }

  private onDrain = (): void => {
    this.awaitingDrain = false
    this.written = 0
    if (this.paused) {
      this.paused = false
      if (!this.isClosed()) this.socket.resume()
    }
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed()) return
    let buf: Buffer
    if (this.partialBytes > 0) {
      this.partial.push(chunk)
      this.partialBytes += chunk.length
      if (this.partialBytes < this.needed) return
      buf = Buffer.concat(this.partial, this.partialBytes)
      this.partial = []
      this.partialBytes = 0
    } else {
      buf = chunk
    }
    let offset = 0
    while (!this.isClosed()) {
      const remaining = buf.length - offset
      if (remaining < 4) {
        this.needed = 4
        break
      }
      const length = buf.readUInt32BE(offset)
      if (length > this.frameLimit) {
        this.unsafeClose("FrameTooLarge")
        return
      }
      if (remaining < 4 + length) {
        this.needed = 4 + length
        break
      }
      if (!this.authenticated && ++this.helloFrames > HELLO_FRAMES) {
        this.unsafeClose("TooManyFrames")
        return
      }
      const start = offset + 4
      const end = start + length
      const problem = MsgpackWalk.check(buf, start, end, this.limits.maxDepth, this.stack, linkExtensions)
      if (problem !== undefined) {
        this.unsafeClose("BadFrame", new Error(problem.detail))
        return
      }
      let message: unknown
      try {
        // read in place (no per-frame view of the chunk)
        message = this.unpackr.unpack(buf, { start, end })
      } catch (cause) {
        this.unsafeClose("BadFrame", cause)
        return
      }
      offset = end
      this.receive(message)
    }
    if (offset < buf.length && !this.isClosed()) {
      const rest = offset === 0 ? buf : buf.subarray(offset)
      this.partial.push(rest)
      this.partialBytes += rest.length
    }
  }

  protected teardown(graceful: boolean): void {
    if (graceful && !this.socket.destroyed) {
      this.flush()
      this.socket.end()
      this.socket.destroySoon()
    } else {
      this.pending = []
      this.pendingBytes = 0
      this.socket.destroy()
    }
    this.partial = []
  }
}
