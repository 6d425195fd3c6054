/**
 * The WebSocket transport of the client edge (for browsers): the same frames, one or more inside
 * each binary message, through the same core as TCP: the same commands, limits, backpressure and
 * error frames. Built on `ws` (no per-message deflate: a compression bomb costs nothing here).
 *
 * What it refuses before a connection reaches the core, each costing that request only:
 * a plain HTTP request (426), an upgrade from an `Origin` not in `origins` (403), a malformed
 * upgrade (400, by `ws`), headers not complete within `frameTimeout`. On an open connection: a
 * text message (close 1003), a message above the frame's largest size (close 1009, by `ws`), more
 * pings than `maxPings` in ten seconds (close 1008).
 */
import * as Http from "node:http"
import * as Https from "node:https"
import type * as Net from "node:net"
import { Effect, Runtime, type Scope } from "effect"
import { type WebSocket, WebSocketServer } from "ws"
import type { ConnectionState, Wire } from "./connection.js"
import type { Core } from "./core.js"
import { HEADER_SIZE } from "./frame.js"
import type { Settings } from "./limits.js"
import { type ListenFailure, listenOn } from "./tcpTransport.js"

/**
 * Where and how the WebSocket listener listens.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebSocketOptions {
  /** Default `0.0.0.0`. */
  readonly host?: string
  /** 0 picks a free port. */
  readonly port: number
  /**
   * Origins a browser may connect from (its `Origin` header, e.g. `https://game.example`); an
   * upgrade from any other is refused with 403. Absent: any origin. A request without `Origin`
   * (not a browser) is always let through: the edge's own limits guard it.
   */
  readonly origins?: ReadonlyArray<string>
  /** Pings a client may send in ten seconds before it is closed (default 50). */
  readonly maxPings?: number
  /** Serve `wss://`: the PEM certificate chain and private key. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer }
}

const PING_WINDOW_MS = 10_000

const BINARY = { binary: true } as const

/** Where a `ws` connection keeps its `Peer` (the shared listeners find it through `this`). */
const PEER = Symbol("hotaru/wsPeer")
type PeerSocket = WebSocket & { [PEER]?: Peer }

/**
 * One open `ws` connection as the core's `Wire`, with its state and its ping count: one small
 * object whose methods are on its prototype, so an idle connection costs little beside `ws`'s own.
 */
class Peer implements Wire {
  state: ConnectionState | undefined = undefined
  pings = 0
  window = 0
  constructor(
    readonly ws: WebSocket,
    readonly socket: Net.Socket
  ) {}
  get destroyed() {
    return this.ws.readyState !== this.ws.OPEN || this.socket.destroyed
  }
  get writableLength() {
    return this.socket.writableLength
  }
  write(bytes: Uint8Array) {
    this.ws.send(bytes, BINARY)
    return !this.socket.writableNeedDrain
  }
  pause() {
    this.ws.pause()
  }
  resume() {
    this.ws.resume()
  }
  destroy() {
    this.ws.terminate()
  }
  destroySoon() {
    this.ws.close(1000)
  }
  once(event: "drain", listener: () => void) {
    return this.socket.once(event, listener)
  }
}

const refuseHttp = (socket: Net.Socket, status: number, reason: string) => {
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
  }
  socket.destroySoon()
}

/** Listen for WebSocket clients, handing every connection to `core`; the scope closes them. */
export const listen = <E>(
  core: Core,
  settings: Settings,
  options: WebSocketOptions,
  onFailure: (failure: ListenFailure) => E
): Effect.Effect<{ readonly host: string; readonly port: number }, E, Scope.Scope> =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const clock = yield* Effect.clock
    const host = options.host ?? "0.0.0.0"
    const origins = options.origins === undefined ? undefined : new Set(options.origins)
    const maxPings = options.maxPings ?? 50
    const handler: Http.RequestListener = (_req, res) => {
      res.writeHead(426, { "content-type": "text/plain", connection: "close", upgrade: "websocket" })
      res.end("this port speaks WebSocket\n")
    }
    const serverOptions = { highWaterMark: settings.highWater }
    const server =
      options.tls === undefined
        ? Http.createServer(serverOptions, handler)
        : Https.createServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, handler)
    // a request's headers (the upgrade's too) must come within the frame deadline
    const deadline = settings.frameMillis > 0 ? settings.frameMillis : 30_000
    server.headersTimeout = deadline
    server.requestTimeout = deadline
    server.maxHeadersCount = 64
    // connections that have not upgraded yet count against the same node-wide cap
    server.maxConnections = settings.maxConnections
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: settings.frame.maxLength + HEADER_SIZE,
      perMessageDeflate: false,
      clientTracking: false
    })
    server.on("upgrade", (req: Http.IncomingMessage, socket: Net.Socket, head: Buffer) => {
      socket.on("error", () => {})
      const origin = req.headers.origin
      if (origins !== undefined && origin !== undefined && !origins.has(origin)) {
        return refuseHttp(socket, 403, "Forbidden")
      }
      wss.handleUpgrade(req, socket, head, (ws) => opened(ws, socket))
    })
    // the listeners of every connection, made once: each finds its connection's Peer on `this`
    function onMessage(this: PeerSocket, data: Buffer, isBinary: boolean) {
      const state = this[PEER]?.state
      if (state === undefined) return
      if (!isBinary) return this.close(1003, "binary frames only")
      core.received(state, data)
    }
    function onPing(this: PeerSocket) {
      const peer = this[PEER]
      if (peer === undefined) return
      const now = clock.unsafeCurrentTimeMillis()
      if (now - peer.window > PING_WINDOW_MS) {
        peer.window = now
        peer.pings = 0
      }
      if (++peer.pings > maxPings) this.close(1008, "too many pings")
    }
    function onError(this: PeerSocket) {
      this.terminate()
    }
    function onClose(this: PeerSocket) {
      const state = this[PEER]?.state
      if (state !== undefined) core.gone(state)
    }
    const opened = (ws: PeerSocket, socket: Net.Socket) => {
      ws.on("error", onError)
      const peer = new Peer(ws, socket)
      const state = core.accept(peer, socket.remoteAddress, socket.remotePort)
      if (state === undefined) return
      peer.state = state
      ws[PEER] = peer
      ws.on("message", onMessage)
      ws.on("ping", onPing)
      ws.on("close", onClose)
    }
    server.on("error", (cause) => Runtime.runFork(runtime)(Effect.logError("wsport listener error", cause)))
    server.on("clientError", (_e, socket: Net.Socket) => refuseHttp(socket, 400, "Bad Request"))
    const bound = yield* Effect.acquireRelease(listenOn(server, host, options.port, onFailure), () =>
      Effect.suspend(() => {
        server.close()
        server.closeAllConnections()
        wss.close()
        return core.closeAll
      })
    )
    core.bound("webSocket", bound, () => server.close())
    return bound
  })
