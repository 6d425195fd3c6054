/**
 * One load-client connection of the WebSocket bench: a `ws` client speaking the frames of
 * `wire.ts`, the same for hotaru's `wsport` and the raw `ws` server. Closed loop, as the TCP
 * load client (`bench/load/fireflyConn.ts`): at most one request outstanding, and the next frame
 * that is not a push answers it (an error frame, command 0xffffffff, as an error).
 */
import WebSocket from "ws"
import { openAll } from "../load/openAll.js"
import { eachFrame, encode, PUSH, RESUME, SESSION } from "./wire.js"

const ERROR_COMMAND = 0xffffffff

export interface WsHooks {
  /** A push (fan-out delivery) arrived. */
  readonly onPush?: () => void
  /** The connection closed or failed after it opened (once; not after `close()`). */
  readonly onClose?: (error: Error) => void
}

export class WsConn {
  /** The resume token of the session this connection is bound to (the server's SESSION frame). */
  token: string | undefined
  /** Frames received that the server counts for resume (all but its system frames). */
  received = 0
  private reply: ((error: Error | undefined, body?: Buffer) => void) | undefined
  private opened = false
  private closed = false
  private readonly ws: WebSocket

  constructor(
    url: string,
    private readonly hooks: WsHooks = {}
  ) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 10_000 })
    this.ws.binaryType = "nodebuffer"
    this.ws.once("open", () => {
      this.opened = true
    })
    this.ws.on("message", (data: Buffer) => this.feed(data))
    this.ws.on("error", (e) => this.fail(e))
    this.ws.on("close", (code) => this.fail(new Error(`closed (${code})`)))
  }

  /** `done(undefined)` once open, `done(error)` if it never will be. */
  ready(done: (error: Error | undefined) => void): void {
    if (this.ws.readyState === WebSocket.OPEN || this.closed) {
      done(this.closed ? new Error("closed") : undefined)
      return
    }
    const onError = (e: Error) => {
      this.ws.off("open", onOpen)
      done(e)
    }
    const onOpen = () => {
      this.ws.off("error", onError)
      done(undefined)
    }
    this.ws.once("error", onError)
    this.ws.once("open", onOpen)
  }

  /** One request; `done` gets the reply's body. */
  call(command: number, body: Uint8Array, done: (error: Error | undefined, body?: Buffer) => void): void {
    if (this.closed) {
      done(new Error("closed"))
      return
    }
    this.reply = done
    this.ws.send(encode(command, body))
  }

  /** The same as a promise. */
  request(command: number, body: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) =>
      this.call(command, body, (error, reply) => (error === undefined ? resolve(reply!) : reject(error)))
    )
  }

  /** A frame with no reply. */
  send(command: number, body: Uint8Array): void {
    if (!this.closed) this.ws.send(encode(command, body))
  }

  /** Drop the connection at once (no closing handshake: a client that vanishes). */
  close(): void {
    this.closed = true
    this.ws.terminate()
  }

  private feed(message: Buffer): void {
    const whole = eachFrame(message, (command, body) => {
      if (command === SESSION) {
        this.token = (JSON.parse(body.toString("utf8")) as { readonly token: string }).token
        return
      }
      if (command !== RESUME) this.received++
      if (command === PUSH) {
        this.hooks.onPush?.()
        return
      }
      const reply = this.reply
      this.reply = undefined
      if (command === ERROR_COMMAND) reply?.(new Error(`error frame ${body.toString("utf8")}`))
      else reply?.(undefined, body)
    })
    if (!whole) {
      this.fail(new Error("a message that is not whole frames"))
      this.close()
    }
  }

  private fail(error: Error): void {
    if (!this.closed) {
      this.closed = true
      if (this.opened) this.hooks.onClose?.(error)
    }
    const reply = this.reply
    this.reply = undefined
    reply?.(error)
  }
}

/** Open `n` connections to `url`, at most `parallel` handshakes at once; fails if any does not open. */
export const openMany = (
  url: string,
  n: number,
  hooksOf: (i: number) => WsHooks = () => ({}),
  parallel = 200
): Promise<Array<WsConn>> =>
  openAll(
    n,
    (i) => new WsConn(url, hooksOf(i)),
    parallel,
    (conn) => conn.close()
  )
