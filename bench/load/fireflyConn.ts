/**
 * Load-client connections in firefly's framing (hotaru's net nodes and the raw baseline):
 * a 17-byte header — 4 head bytes 0, protoVersion 0, serverVersion uint32 0, length uint32 BE
 * (command id + body), command id uint32 BE — then the body. Command ids as in the bench app
 * (`bench/app/protocol.ts`): 1 echo, 2 fan-out, 3 push, 4 forward. Closed loop: the next frame
 * that is not a push answers the one outstanding request. `FireflyConn.call` sends any command
 * and hands back the reply's body (the arena workloads W6/W7: JSON bodies, no pushes).
 */
import * as Net from "node:net"
import type { Conn, ConnHooks, Op, Protocol } from "./conn.js"

const HEADER = 17
/** Header bytes before the part `length` counts. */
const PREFIX = 13
const MAX_LENGTH = 1 << 20
const PUSH = 3
const ids: Record<Op, number> = { echo: 1, fanout: 2, forward: 4 }

const encode = (command: number, body: Buffer): Buffer => {
  const frame = Buffer.allocUnsafe(HEADER + body.length)
  frame.fill(0, 0, 9)
  frame.writeUInt32BE(body.length + 4, 9)
  frame.writeUInt32BE(command, 13)
  body.copy(frame, HEADER)
  return frame
}

export class FireflyConn implements Conn {
  private pending: Buffer | undefined
  private reply: ((error: Error | undefined, body?: Buffer) => void) | undefined
  private closed = false
  private readonly socket: Net.Socket

  /** `push`: the command id of pushes (3 in the bench app), `null` when the server never pushes. */
  constructor(
    host: string,
    port: number,
    private readonly hooks: ConnHooks,
    private readonly push: number | null = PUSH
  ) {
    this.socket = Net.connect({ host, port, noDelay: true })
    this.socket.on("data", (chunk: Buffer) => this.feed(chunk))
    this.socket.on("error", (e) => this.fail(e))
    this.socket.on("close", () => this.fail(new Error("closed")))
  }

  ready(done: (error: Error | undefined) => void): void {
    if (!this.socket.connecting) {
      done(this.closed ? new Error("closed") : undefined)
      return
    }
    const onError = (e: Error) => done(e)
    this.socket.once("error", onError)
    this.socket.once("connect", () => {
      this.socket.removeListener("error", onError)
      done(undefined)
    })
  }

  /** Servers push to every accepted connection: one echo round trip proves this one is accepted. */
  subscribe(done: (error: Error | undefined) => void): void {
    this.request("echo", Buffer.alloc(0), done)
  }

  request(op: Op, body: Buffer, done: (error: Error | undefined) => void): void {
    this.call(ids[op], body, done)
  }

  /** One request of any command; `done` gets the reply's body (an error frame's too). */
  call(command: number, body: Buffer, done: (error: Error | undefined, body?: Buffer) => void): void {
    this.reply = done
    this.socket.write(encode(command, body))
  }

  notify(op: Op, body: Buffer): void {
    this.socket.write(encode(ids[op], body))
  }

  close(): void {
    this.closed = true
    this.socket.resetAndDestroy()
  }

  private feed(chunk: Buffer): void {
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk])
    this.pending = undefined
    let off = 0
    while (buf.length - off >= HEADER) {
      const length = buf.readUInt32BE(off + 9)
      if (length < 4 || length > MAX_LENGTH) {
        this.fail(new Error(`bad frame length ${length}`))
        this.socket.destroy()
        return
      }
      if (buf.length - off < PREFIX + length) break
      const command = buf.readUInt32BE(off + 13)
      const start = off + HEADER
      off += PREFIX + length
      if (command === this.push) this.hooks.onPush?.()
      else {
        const reply = this.reply
        this.reply = undefined
        reply?.(undefined, buf.subarray(start, off))
      }
    }
    if (off < buf.length) this.pending = buf.subarray(off)
  }

  private fail(error: Error): void {
    if (!this.closed) {
      this.closed = true
      this.hooks.onClose?.(error)
    }
    const reply = this.reply
    this.reply = undefined
    reply?.(error)
  }
}

export const firefly: Protocol = {
  name: "firefly",
  connect: (host, port, hooks) => new FireflyConn(host, port, hooks),
  makeBody: (size) => Buffer.alloc(size, 0x61)
}
