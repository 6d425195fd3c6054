/**
 * The WebSocket transport of the client edge: the same frames inside binary messages, over real
 * sockets with the `ws` client; the same core as TCP (one connection table, push across both);
 * and what it refuses from a hostile client, each costing that connection only.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Metric, Schema, Stream } from "effect"
import WebSocket from "ws"
import * as Client from "../src/Client.js"
import { edgeEvents } from "../src/internal/edge/edge.js"
import * as Frame from "../src/internal/edge/frame.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetServer from "../src/NetServer.js"
import * as TestCluster from "../src/TestCluster.js"

const Echo = NetCommand.text(1, { name: "echo" })
const PushAll = NetCommand.text(2)
const Pushed = NetCommand.text(3)
const Add = NetCommand.json(4, {
  request: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  response: Schema.Number
})

class Denied extends Schema.TaggedError<Denied>()("Denied", { why: Schema.String }) {}
const Nope = NetCommand.text(5, { error: Denied })

const App = Layer.mergeAll(
  NetServer.handle(Nope, (why) => Effect.fail(new Denied({ why }))),
  NetServer.handle(Echo, (body) => Effect.succeed(body)),
  NetServer.handle(Add, ({ a, b }) => Effect.succeed(a + b)),
  NetServer.handle(PushAll, (body, conn) =>
    Effect.gen(function* () {
      const server = yield* NetServer.NetServer
      const ids = (yield* server.connections).map((c) => c.id).filter((id) => id !== conn.id)
      return String(yield* server.push(Pushed, body, ids))
    })
  )
)

const serve = (webSocket: Partial<NetServer.WebSocketOptions> = {}, extra: Partial<NetServer.Options> = {}) =>
  NetServer.serve(App, {
    host: "127.0.0.1",
    port: 0,
    webSocket: { host: "127.0.0.1", port: 0, ...webSocket },
    frame: { maxLength: 4096 },
    ...extra
  })

const wsPort = Effect.map(NetServer.NetServer, (s) => s.addresses.webSocket!.port)

/** A `ws` client: frames out, decoded frames in, and how it closed. */
const open = (port: number, headers: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.async<WsClient, Error>((resume) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers })
      const client = new WsClient(ws)
      ws.once("open", () => resume(Effect.succeed(client)))
      ws.once("unexpected-response", (_req, res) =>
        resume(Effect.fail(new Error(`upgrade refused: ${res.statusCode}`)))
      )
      ws.once("error", (e) => resume(Effect.fail(e)))
    }),
    (client) => Effect.sync(() => client.ws.terminate())
  )

class WsClient {
  readonly frames: Array<{ command: number; body: string }> = []
  closed: { code: number; reason: string } | undefined
  private readonly decoder = new Frame.Decoder(Frame.defaultFrameOptions)
  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer) => {
      this.decoder.push(data, (command, body) => {
        this.frames.push({ command, body: Buffer.from(body).toString("utf8") })
      })
    })
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() }
    })
    ws.on("error", () => {})
  }
  send(command: number, body: string) {
    this.ws.send(Frame.encodeBuffer(Frame.defaultFrameOptions, command, Buffer.from(body, "utf8")))
  }
  /** Wait for the n-th frame (1-based) or for the close. */
  next(n: number) {
    return Effect.gen(this, function* () {
      for (let i = 0; i < 500 && this.frames.length < n && this.closed === undefined; i++) {
        yield* Effect.sleep("10 millis")
      }
      if (this.frames.length < n)
        return yield* Effect.fail(new Error(`no frame ${n}; closed ${JSON.stringify(this.closed)}`))
      return this.frames[n - 1]!
    })
  }
  waitClosed() {
    return Effect.gen(this, function* () {
      for (let i = 0; i < 500 && this.closed === undefined; i++) yield* Effect.sleep("10 millis")
      if (this.closed === undefined) return yield* Effect.fail(new Error("not closed"))
      return this.closed
    })
  }
}

/** Send raw bytes over plain TCP and read what comes back until the server closes. */
const rawHttp = (port: number, request: string) =>
  Effect.async<string, Error>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    let out = ""
    socket.on("data", (d) => {
      out += String(d)
    })
    socket.on("error", (e) => resume(Effect.fail(e)))
    socket.on("close", () => resume(Effect.succeed(out)))
    socket.write(request)
    setTimeout(() => socket.destroy(), 3000)
  })

describe("NetServer over WebSocket", () => {
  it.scopedLive("answers the same commands inside binary messages, several frames to a message", () =>
    Effect.gen(function* () {
      const client = yield* open(yield* wsPort)
      client.send(Echo.id, "ひかり")
      expect(yield* client.next(1)).toEqual({ command: Echo.id, body: "ひかり" })
      // two frames in one message, and one frame split over two messages
      const a = Frame.encodeBuffer(Frame.defaultFrameOptions, Add.id, Buffer.from('{"a":2,"b":40}'))
      const b = Frame.encodeBuffer(Frame.defaultFrameOptions, Echo.id, Buffer.from("two"))
      client.ws.send(Buffer.concat([a, b]))
      const c = Frame.encodeBuffer(Frame.defaultFrameOptions, Echo.id, Buffer.from("split"))
      client.ws.send(c.subarray(0, 9))
      client.ws.send(c.subarray(9))
      expect(yield* client.next(4)).toEqual({ command: Echo.id, body: "split" })
      expect(client.frames.slice(1, 3)).toEqual([
        { command: Add.id, body: "42" },
        { command: Echo.id, body: "two" }
      ])
      // an unknown command is an error frame, as on TCP
      client.send(99, "x")
      const error = yield* client.next(5)
      expect(error.command).toBe(NetCommand.ERROR_COMMAND)
      expect(JSON.parse(error.body)).toMatchObject({ command: 99, error: "UnknownCommand" })
    }).pipe(Effect.provide(serve()))
  )

  it.scopedLive("one edge for both transports: a TCP client's push reaches a browser's connection", () =>
    Effect.gen(function* () {
      const server = yield* NetServer.NetServer
      const browser = yield* open(yield* wsPort)
      const tcp = yield* Client.connect({
        host: "127.0.0.1",
        port: server.addresses.tcp!.port,
        timeout: "5 seconds"
      })
      expect((yield* server.connections).length).toBe(2)
      expect(yield* tcp.call(PushAll, "hello")).toBe("1")
      expect(yield* browser.next(1)).toEqual({ command: Pushed.id, body: "hello" })
    }).pipe(Effect.provide(serve()))
  )

  it.scopedLive("Client.connectWebSocket: typed calls, typed pushes, typed errors, over ws://", () =>
    Effect.gen(function* () {
      const port = yield* wsPort
      const a = yield* Client.connectWebSocket({ url: `ws://127.0.0.1:${port}/`, timeout: "5 seconds" })
      const b = yield* Client.connectWebSocket({ url: `ws://127.0.0.1:${port}/`, timeout: "5 seconds" })
      expect(yield* a.call(Add, { a: 1, b: 2 })).toBe(3)
      const pushed = yield* b.pushesOf(Pushed).pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("50 millis")
      expect(yield* a.call(PushAll, "to b")).toBe("1")
      expect([...(yield* Fiber.join(pushed))]).toEqual(["to b"])
      const failed = yield* Effect.flip(a.call(Nope, "x"))
      expect(failed).toMatchObject({ _tag: "Denied", why: "x" })
      const refused = yield* Effect.flip(Client.connectWebSocket({ url: "ws://127.0.0.1:1/" }))
      expect(refused).toMatchObject({ _tag: "ClientError", reason: "Connect" })
    }).pipe(Effect.provide(serve()))
  )

  it.scopedLive("a WebSocket-only edge (no TCP port)", () =>
    Effect.gen(function* () {
      const server = yield* NetServer.NetServer
      expect(server.addresses.tcp).toBeUndefined()
      expect(server.address.port).toBe(server.addresses.webSocket!.port)
      const client = yield* open(server.address.port)
      client.send(Echo.id, "only ws")
      expect((yield* client.next(1)).body).toBe("only ws")
    }).pipe(Effect.provide(NetServer.serve(App, { webSocket: { host: "127.0.0.1", port: 0 } })))
  )

  it.effect("no listener at all is a typed error", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Layer.build(NetServer.serve(App, {})).pipe(Effect.scoped))
      expect(error).toMatchObject({ _tag: "NetServerError", reason: "NoListener" })
      // a wsport that cannot bind says so (not "netport")
      const taken = yield* Effect.scoped(
        Effect.flatMap(
          Layer.build(NetServer.serve(App, { webSocket: { host: "127.0.0.1", port: 0 } })),
          (ctx) =>
            Effect.flip(
              Layer.build(
                NetServer.serve(App, {
                  webSocket: { host: "127.0.0.1", port: Context.get(ctx, NetServer.NetServer).address.port }
                })
              )
            )
        )
      )
      expect(taken).toMatchObject({ _tag: "NetServerError", reason: "Listen", listener: "wsport" })
      expect(taken.message).toMatch(/^wsport 127\.0\.0\.1:\d+: cannot listen/)
    })
  )
})

describe("wsport from the config file", () => {
  it.scopedLive("a node with netport and wsport serves both; the ws block's origins apply", () =>
    Effect.gen(function* () {
      const cluster = yield* TestCluster.make({
        config: {
          servers: {
            front: { netport: 1, wsport: 2, ws: { origins: ["https://game.example"], maxPings: 5 } }
          }
        },
        apps: { front: App }
      })
      const server = yield* cluster.node("front").use(NetServer.NetServer)
      expect(server.addresses.tcp?.port).toBeGreaterThan(0)
      const port = server.addresses.webSocket!.port
      const browser = yield* Client.connectWebSocket({ url: `ws://127.0.0.1:${port}/`, timeout: "5 seconds" })
      expect(yield* browser.call(Add, { a: 20, b: 22 })).toBe(42)
      const tcp = yield* cluster.client("front")
      expect(yield* tcp.call(Echo, "tcp too")).toBe("tcp too")
      const refused = yield* Effect.flip(open(port, { Origin: "https://evil.example" }))
      expect(refused.message).toContain("403")
    })
  )
})

describe("wsport over TLS (ws.tls)", () => {
  it.scopedLive(
    "serves wss:// with the configured certificate; a missing file fails the start, naming the key",
    () =>
      Effect.gen(function* () {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-wss-"))
        ChildProcess.execFileSync(
          "openssl",
          [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1"
          ],
          { cwd: dir, stdio: "pipe" }
        )
        const cluster = yield* TestCluster.make({
          config: { servers: { front: { wsport: 2, ws: { tls: { cert: "cert.pem", key: "key.pem" } } } } },
          dir,
          apps: { front: App }
        })
        const server = yield* cluster.node("front").use(NetServer.NetServer)
        const port = server.addresses.webSocket!.port
        const ca = Fs.readFileSync(Path.join(dir, "cert.pem"))
        const reply = yield* Effect.async<string, Error>((resume) => {
          const ws = new WebSocket(`wss://127.0.0.1:${port}/`, { ca })
          ws.on("open", () =>
            ws.send(Frame.encodeBuffer(Frame.defaultFrameOptions, Echo.id, Buffer.from("secure")))
          )
          ws.on("message", (data: Buffer) => {
            resume(Effect.succeed(data.subarray(Frame.HEADER_SIZE).toString("utf8")))
            ws.terminate()
          })
          ws.on("error", (e) => resume(Effect.fail(e)))
        })
        expect(reply).toBe("secure")
        // plain ws:// to a TLS port does not get a WebSocket
        const plain = yield* Effect.flip(open(port))
        expect(plain).toBeInstanceOf(Error)
        const missing = yield* Effect.flip(
          TestCluster.make({
            config: { servers: { front: { wsport: 2, ws: { tls: { cert: "nope.pem", key: "key.pem" } } } } },
            dir,
            apps: { front: App }
          })
        )
        expect(String(missing)).toContain("ws.tls.cert")
      })
  )
})

describe("NetServer over WebSocket: hostile clients", () => {
  it.scopedLive("a text message closes that connection (1003); others are unaffected", () =>
    Effect.gen(function* () {
      const port = yield* wsPort
      const bad = yield* open(port)
      const good = yield* open(port)
      bad.ws.send("not binary")
      expect((yield* bad.waitClosed()).code).toBe(1003)
      good.send(Echo.id, "still here")
      expect((yield* good.next(1)).body).toBe("still here")
    }).pipe(Effect.provide(serve()))
  )

  it.scopedLive(
    "a message above the largest frame closes the connection (1009); a bad frame header closes it too",
    () =>
      Effect.gen(function* () {
        const port = yield* wsPort
        const big = yield* open(port)
        big.ws.send(Buffer.alloc(4096 + Frame.HEADER_SIZE + 1))
        expect((yield* big.waitClosed()).code).toBe(1009)
        const garbage = yield* open(port)
        garbage.ws.send(Buffer.alloc(64, 0xab))
        expect((yield* garbage.waitClosed()).code).toBeGreaterThan(0)
        const stats = yield* Effect.flatMap(NetServer.NetServer, (s) => s.stats)
        expect(stats.frameViolations).toBe(1)
      }).pipe(Effect.provide(serve()))
  )

  it.scopedLive("a ping flood closes the connection (1008)", () =>
    Effect.gen(function* () {
      const client = yield* open(yield* wsPort)
      for (let i = 0; i < 20; i++) client.ws.ping()
      expect((yield* client.waitClosed()).code).toBe(1008)
    }).pipe(Effect.provide(serve({ maxPings: 10 })))
  )

  it.scopedLive(
    "origins: an upgrade from another origin is refused with 403; a listed one and none pass",
    () =>
      Effect.gen(function* () {
        const port = yield* wsPort
        const refused = yield* Effect.flip(open(port, { Origin: "https://evil.example" }))
        expect(refused.message).toContain("403")
        const listed = yield* open(port, { Origin: "https://game.example" })
        listed.send(Echo.id, "ok")
        expect((yield* listed.next(1)).body).toBe("ok")
        const native = yield* open(port)
        native.send(Echo.id, "native")
        expect((yield* native.next(1)).body).toBe("native")
      }).pipe(Effect.provide(serve({ origins: ["https://game.example"] })))
  )

  it.scopedLive("plain HTTP gets 426, a malformed upgrade 400, garbage 400; the listener stays up", () =>
    Effect.gen(function* () {
      const port = yield* wsPort
      expect(yield* rawHttp(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")).toMatch(/^HTTP\/1\.1 426/)
      expect(
        yield* rawHttp(port, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
      ).toMatch(/^HTTP\/1\.1 400/)
      expect(yield* rawHttp(port, "\x00\x01\x02 garbage\r\n\r\n")).toMatch(/^HTTP\/1\.1 400/)
      const client = yield* open(port)
      client.send(Echo.id, "fine")
      expect((yield* client.next(1)).body).toBe("fine")
    }).pipe(Effect.provide(serve()))
  )

  it.scopedLive("the per-IP cap counts WebSocket connections like TCP ones", () =>
    Effect.gen(function* () {
      const port = yield* wsPort
      yield* open(port)
      yield* open(port)
      const third = yield* open(port)
      expect((yield* third.waitClosed()).code).toBe(1006)
      const stats = yield* Effect.flatMap(NetServer.NetServer, (s) => s.stats)
      expect(stats.refusedPerIp).toBe(1)
      // the same counts as Effect Metrics, by node and event
      const metric = (event: string) =>
        Metric.value(Metric.tagged(Metric.tagged(edgeEvents, "node", "ws-caps"), "event", event))
      expect((yield* metric("refusedPerIp")).count).toBe(1)
      expect((yield* metric("accepted")).count).toBe(2)
    }).pipe(
      Effect.provide(serve({}, { node: "ws-caps", limits: { maxConnectionsPerIp: 2, perIpExempt: [] } }))
    )
  )

  it.scopedLive("a client that never reads is kicked as a slow consumer", () =>
    Effect.gen(function* () {
      const server = yield* NetServer.NetServer
      const client = yield* open(server.addresses.webSocket!.port)
      client.ws.pause()
      // the underlying socket stops reading too: the server's queue grows past maxBuffered
      ;(client.ws as unknown as { _socket: Net.Socket })._socket.pause()
      const id = (yield* server.connections)[0]!.id
      // the kernel's socket buffers take a few MB first: at most 24 MB are sent
      const chunk = "x".repeat(8000)
      for (let i = 0; i < 3000 && (yield* server.connections).length > 0; i++) {
        yield* server.push(Pushed, chunk, [id])
        if (i % 10 === 0) yield* Effect.sleep("1 millis")
      }
      expect((yield* server.connections).length).toBe(0)
      expect((yield* server.stats).slowConsumers).toBe(1)
    }).pipe(
      Effect.provide(
        serve({}, { frame: { maxLength: 8192 }, limits: { maxBuffered: 256 * 1024, highWater: 16 * 1024 } })
      )
    )
  )
})
