/**
 * Load-client connections to Pinus's `hybridconnector` over plain TCP (pinus-protocol, JSON
 * bodies, no route dictionary, no protobuf), for the bench's Pinus app (`bench/pinus/`).
 *
 * - package: type (1 byte: 1 handshake, 2 ack, 3 heartbeat, 4 data, 5 kick), body length
 *   (3 bytes BE), body;
 * - message (in a data package): flag `type << 1 | compressedRoute` (0 request, 1 notify,
 *   2 response, 3 push), the message id as a base-128 varint (request and response only, >= 1),
 *   the route as length byte + UTF-8 (request, notify, push; a push with a compressed route has a
 *   2-byte code), then the body;
 * - start: the client sends a JSON handshake, the server answers `{code: 200, sys: {heartbeat}}`,
 *   the client acks; from then on the client answers each server heartbeat `heartbeat` seconds
 *   later (the server drops a connection silent for twice that).
 */
import * as Net from "node:net"
import type { Conn, ConnHooks, Op, Protocol } from "./conn.js"

const HANDSHAKE = 1
const ACK = 2
const HEARTBEAT = 3
const DATA = 4
const KICK = 5

const REQUEST = 0
const NOTIFY = 1
const RESPONSE = 2
const PUSH = 3

type Route = Op | "join"
const routes: Record<Route, Buffer> = {
  echo: Buffer.from("connector.benchHandler.echo"),
  forward: Buffer.from("connector.benchHandler.forward"),
  fanout: Buffer.from("connector.benchHandler.fanout"),
  join: Buffer.from("connector.benchHandler.join")
}

const packageOf = (type: number, body: Buffer): Buffer => {
  const out = Buffer.allocUnsafe(4 + body.length)
  out[0] = type
  out.writeUIntBE(body.length, 1, 3)
  body.copy(out, 4)
  return out
}

const handshakePackage = packageOf(
  HANDSHAKE,
  Buffer.from(JSON.stringify({ sys: { type: "hotaru-bench", version: "0.1.0", rsa: {} }, user: {} }))
)
const ackPackage = packageOf(ACK, Buffer.alloc(0))
const heartbeatPackage = packageOf(HEARTBEAT, Buffer.alloc(0))

const varint = (n: number): Array<number> => {
  const bytes: Array<number> = []
  do {
    const low = n % 128
    n = Math.floor(n / 128)
    bytes.push(n > 0 ? low + 128 : low)
  } while (n > 0)
  return bytes
}

/** A data package carrying a request (`id` >= 1) or a notify (`id` 0). */
const message = (id: number, route: Buffer, body: Buffer): Buffer => {
  const idBytes = id === 0 ? [] : varint(id)
  const head = Buffer.from([((id === 0 ? NOTIFY : REQUEST) << 1) & 0xff, ...idBytes, route.length])
  return packageOf(DATA, Buffer.concat([head, route, body]))
}

class PinusConn implements Conn {
  private pending: Buffer | undefined
  private reply: ((error: Error | undefined) => void) | undefined
  private replyId = 0
  private nextId = 0
  private closed = false
  private isReady = false
  private readyWaiters: Array<(error: Error | undefined) => void> = []
  private heartbeatMs = 0
  private heartbeatTimer: NodeJS.Timeout | undefined
  private readonly socket: Net.Socket

  constructor(
    host: string,
    port: number,
    private readonly hooks: ConnHooks
  ) {
    this.socket = Net.connect({ host, port, noDelay: true })
    this.socket.on("connect", () => this.socket.write(handshakePackage))
    this.socket.on("data", (chunk: Buffer) => this.feed(chunk))
    this.socket.on("error", (e) => this.fail(e))
    this.socket.on("close", () => this.fail(new Error("closed")))
  }

  ready(done: (error: Error | undefined) => void): void {
    if (this.isReady) done(undefined)
    else if (this.closed) done(new Error("closed"))
    else this.readyWaiters.push(done)
  }

  /** Bind a uid to the session and join the fan-out channel. */
  subscribe(done: (error: Error | undefined) => void): void {
    this.send("join", Buffer.from("{}"), done)
  }

  request(op: Op, body: Buffer, done: (error: Error | undefined) => void): void {
    this.send(op, body, done)
  }

  notify(op: Op, body: Buffer): void {
    this.socket.write(message(0, routes[op], body))
  }

  close(): void {
    this.closed = true
    clearTimeout(this.heartbeatTimer)
    this.socket.resetAndDestroy()
  }

  private send(route: Route, body: Buffer, done: (error: Error | undefined) => void): void {
    this.nextId = this.nextId >= 0x1fffff ? 1 : this.nextId + 1
    this.reply = done
    this.replyId = this.nextId
    this.socket.write(message(this.nextId, routes[route], body))
  }

  private feed(chunk: Buffer): void {
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk])
    this.pending = undefined
    let off = 0
    while (buf.length - off >= 4) {
      const length = buf.readUIntBE(off + 1, 3)
      if (buf.length - off < 4 + length) break
      this.onPackage(buf[off]!, buf.subarray(off + 4, off + 4 + length))
      off += 4 + length
    }
    if (off < buf.length) this.pending = buf.subarray(off)
  }

  private onPackage(type: number, body: Buffer): void {
    switch (type) {
      case DATA:
        this.onMessage(body)
        return
      case HEARTBEAT:
        if (this.heartbeatMs > 0) {
          clearTimeout(this.heartbeatTimer)
          this.heartbeatTimer = setTimeout(() => {
            if (!this.closed) this.socket.write(heartbeatPackage)
          }, this.heartbeatMs)
        }
        return
      case HANDSHAKE: {
        const answer = JSON.parse(body.toString("utf8")) as {
          readonly code?: number
          readonly sys?: { readonly heartbeat?: number }
        }
        if (answer.code !== 200) {
          this.fail(new Error(`handshake refused: code ${answer.code}`))
          return
        }
        this.heartbeatMs = (answer.sys?.heartbeat ?? 0) * 1000
        this.socket.write(ackPackage)
        this.isReady = true
        const waiters = this.readyWaiters
        this.readyWaiters = []
        for (const w of waiters) w(undefined)
        return
      }
      case KICK:
        this.fail(new Error(`kicked: ${body.toString("utf8")}`))
    }
  }

  private onMessage(m: Buffer): void {
    const flag = m[0]!
    const type = (flag >> 1) & 7
    let off = 1
    if (type === RESPONSE) {
      let id = 0
      let shift = 1
      let byte: number
      do {
        byte = m[off++]!
        id += (byte & 0x7f) * shift
        shift *= 128
      } while (byte >= 128)
      if (this.reply !== undefined && id === this.replyId) {
        const reply = this.reply
        this.reply = undefined
        reply(undefined)
      }
    } else if (type === PUSH) {
      this.hooks.onPush?.()
    }
  }

  private fail(error: Error): void {
    clearTimeout(this.heartbeatTimer)
    if (!this.closed) {
      this.closed = true
      this.hooks.onClose?.(error)
    }
    const waiters = this.readyWaiters
    this.readyWaiters = []
    for (const w of waiters) w(error)
    const reply = this.reply
    this.reply = undefined
    reply?.(error)
  }
}

export const pinus: Protocol = {
  name: "pinus",
  connect: (host, port, hooks) => new PinusConn(host, port, hooks),
  /** A JSON body of exactly `size` bytes, `{"p":"aaa…"}` (Pinus bodies are JSON). */
  makeBody: (size) => {
    if (size < 8) throw new Error(`a Pinus body needs at least 8 bytes, got ${size}`)
    return Buffer.from(`{"p":"${"a".repeat(size - 8)}"}`)
  }
}
