/**
 * Helpers of the hostile suite: a raw link peer that speaks the frame format
 * (and, when asked, the handshake) by hand, over a real socket.
 */

import { randomBytes } from "node:crypto"
import * as Net from "node:net"
import * as Redacted from "effect/Redacted"
import * as Msgpackr from "msgpackr"
import * as Handshake from "../../src/internal/link/handshake.js"

const packr = new Msgpackr.Packr({ useRecords: false })
const unpackr = new Msgpackr.Unpackr({ useRecords: false, mapsAsObjects: true })

/** One link frame: uint32 BE length + msgpack. */
export const frame = (message: unknown): Buffer => {
  const body = packr.pack(message)
  const header = Buffer.alloc(4)
  header.writeUInt32BE(body.length)
  return Buffer.concat([header, body])
}

/** The frames of a byte string (complete ones only). */
export const splitFrames = (bytes: Buffer): Array<Buffer> => {
  const out: Array<Buffer> = []
  let offset = 0
  while (offset + 4 <= bytes.length) {
    const length = bytes.readUInt32BE(offset)
    if (offset + 4 + length > bytes.length) break
    out.push(bytes.subarray(offset, offset + 4 + length))
    offset += 4 + length
  }
  return out
}

export const CLOSED: unique symbol = Symbol("closed")

/** A hand-driven link peer over a real socket. */
export class RawPeer {
  private buffer = Buffer.alloc(0)
  private readonly frames: Array<unknown> = []
  private readonly waiters: Array<(frame: unknown) => void> = []
  closedAt: number | undefined
  private readonly closeWaiters: Array<() => void> = []

  private constructor(readonly socket: Net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk])
      while (this.buffer.length >= 4) {
        const length = this.buffer.readUInt32BE(0)
        if (this.buffer.length < 4 + length) break
        const message = unpackr.unpack(this.buffer.subarray(4, 4 + length))
        this.buffer = this.buffer.subarray(4 + length)
        const waiter = this.waiters.shift()
        if (waiter) waiter(message)
        else this.frames.push(message)
      }
    })
    socket.on("error", () => {})
    socket.on("close", () => {
      this.closedAt = Date.now()
      for (const waiter of this.waiters.splice(0)) waiter(CLOSED)
      for (const waiter of this.closeWaiters.splice(0)) waiter()
    })
  }

  static connect(port: number, host = "127.0.0.1"): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = Net.connect({ host, port })
      socket.once("error", reject)
      socket.once("connect", () => {
        socket.off("error", reject)
        resolve(new RawPeer(socket))
      })
    })
  }

  send(message: unknown): void {
    this.socket.write(frame(message))
  }

  /** The next frame, `CLOSED` when the link closed first; rejects after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<unknown> {
    const queued = this.frames.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    if (this.closedAt !== undefined) return Promise.resolve(CLOSED)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no frame in time")), timeoutMs)
      this.waiters.push((f) => {
        clearTimeout(timer)
        resolve(f)
      })
    })
  }

  /** Resolves with the time the socket closed; rejects after `timeoutMs`. */
  closed(timeoutMs = 5000): Promise<number> {
    if (this.closedAt !== undefined) return Promise.resolve(this.closedAt)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("still open")), timeoutMs)
      this.closeWaiters.push(() => {
        clearTimeout(timer)
        resolve(this.closedAt!)
      })
    })
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/**
 * Dial `port` and run the dialer's handshake by hand as `name` towards
 * `parent` with `secret`; returns the peer and the acceptor's last answer
 * (`[5, parent]` welcome, `[6, reason, parent]` refused, or `CLOSED`).
 */
export const rawJoin = async (
  port: number,
  name: string,
  parent: string,
  secret: string | undefined
): Promise<{ readonly peer: RawPeer; readonly answer: unknown }> => {
  const peer = await RawPeer.connect(port)
  const dialerNonce = randomBytes(Handshake.NONCE_BYTES)
  peer.send([Handshake.F_HELLO, name, parent, dialerNonce])
  const challenge = (await peer.next()) as Array<unknown> | typeof CLOSED
  if (challenge === CLOSED || challenge[0] !== Handshake.F_CHALLENGE) return { peer, answer: challenge }
  const acceptor = challenge[1] as string
  const acceptorNonce = challenge[2] as Uint8Array
  peer.send([
    Handshake.F_PROOF,
    Handshake.proof(
      secret === undefined ? undefined : Redacted.make(secret),
      "dialer",
      dialerNonce,
      acceptorNonce,
      name,
      acceptor
    )
  ])
  return { peer, answer: await peer.next() }
}

/** Heap in use now, after a garbage collection when `--expose-gc` is on. */
export const heapUsed = (): number => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) gc()
  return process.memoryUsage().heapUsed
}
