/**
 * The client edge under attack: real sockets on 127.0.0.1, one hostile client at a time, and
 * after each a well-behaved client on the same server must still be answered.
 */
import * as Net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Layer, Logger, Schedule, Schema, TestClock } from "effect"
import { Packr } from "msgpackr"
import * as Client from "../../src/Client.js"
import * as HotaruConfig from "../../src/HotaruConfig.js"
import * as Frame from "../../src/internal/edge/frame.js"
import * as NetCommand from "../../src/NetCommand.js"
import * as NetServer from "../../src/NetServer.js"
import { NodeUnavailable } from "../../src/NodeError.js"

const Echo = NetCommand.text(1, { name: "echo" })
const Register = NetCommand.json(2, {
  name: "register",
  request: Schema.Struct({ user: Schema.String }),
  response: Schema.String
})
const Pack = NetCommand.msgpack(3, { name: "pack", request: Schema.Unknown, response: Schema.Number })
const Counted = NetCommand.json(4, { name: "counted", request: Schema.Number, response: Schema.Number })
const Big = NetCommand.text(5, { name: "big" })
const Secret = NetCommand.text(6, { name: "secret" })
const SecretDie = NetCommand.text(7, { name: "secretDie" })
const Typed = NetCommand.text(8, { name: "typed" })
/** A command whose decoder throws, as a stack overflow deep in a codec would. */
const Broken: NetCommand.Command<"broken", string, string> = {
  ...NetCommand.text(9, { name: "broken" }),
  decodeRequest: () => {
    throw new RangeError("Maximum call stack size exceeded")
  }
}

/** Handlers running right now, and the most seen at once. */
const running = { now: 0, max: 0 }

const App = Layer.mergeAll(
  NetServer.handle(Echo, (body) => Effect.succeed(body)),
  NetServer.handle(Register, ({ user }) => Effect.succeed(`hello ${user}`)),
  NetServer.handle(Pack, (value) => Effect.succeed(JSON.stringify(value)?.length ?? 0)),
  NetServer.handle(Counted, (ms) =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        running.now++
        running.max = Math.max(running.max, running.now)
      }),
      () => Effect.as(Effect.sleep(Duration.millis(ms)), ms),
      () => Effect.sync(() => running.now--)
    )
  ),
  NetServer.handle(Big, (body) => Effect.succeed("x".repeat(Number(body)))),
  // failures the commands do not declare (`NetServer.Undeclared`), with internal text inside
  NetServer.handle(Secret, () =>
    Effect.fail(
      new NetCommand.BodyError({ reason: "Encode", command: 6, detail: "SELECT secret FROM users WHERE 1=1" })
    )
  ),
  NetServer.handle(SecretDie, () => Effect.die(new Error("SELECT secret FROM users: syntax error"))),
  NetServer.handle(Typed, () =>
    Effect.fail(new NodeUnavailable({ node: "SELECT secret FROM db", reason: "LinkLost" }))
  ),
  NetServer.handle(Broken, (body) => Effect.succeed(body))
)

const serve = (options: Partial<NetServer.Options> = {}) =>
  NetServer.serve(App, { host: "127.0.0.1", port: 0, ...options })

const connect = Effect.flatMap(NetServer.NetServer, (server) =>
  Client.connect({ host: "127.0.0.1", port: server.address.port, timeout: "5 seconds" })
)

/** A well-behaved client on the same server gets its answer. */
const stillServes = Effect.scoped(
  Effect.gen(function* () {
    const good = yield* connect
    expect(yield* good.call(Echo, "still here")).toBe("still here")
  })
)

interface Raw {
  readonly socket: Net.Socket
  readonly closed: Promise<void>
  readonly frames: Array<{ command: number; body: Buffer }>
}

/** A raw socket (closed with the scope); `read: false` never reads what the server sends. */
const raw = (options: { readonly read?: boolean; readonly localAddress?: string } = {}) =>
  Effect.flatMap(NetServer.NetServer, (server) =>
    Effect.acquireRelease(
      Effect.async<Raw>((resume) => {
        const socket = Net.connect({
          host: "127.0.0.1",
          port: server.address.port,
          ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress })
        })
        const frames: Array<{ command: number; body: Buffer }> = []
        const decoder = new Frame.Decoder(Frame.defaultFrameOptions)
        const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()))
        socket.on("error", () => {})
        if (options.read === false) socket.pause()
        else
          socket.on("data", (chunk) => {
            decoder.push(chunk, (command, body) => {
              frames.push({ command, body: Buffer.from(body) })
            })
          })
        socket.once("connect", () => resume(Effect.succeed({ socket, closed, frames })))
      }),
      (r) => Effect.sync(() => r.socket.destroy())
    )
  )

const send = (r: Raw, bytes: Uint8Array) => Effect.sync(() => r.socket.write(bytes))
const closedWithin = (r: Raw, d: Duration.DurationInput) =>
  Effect.promise(() => r.closed).pipe(Effect.timeout(d))
const isOpen = (r: Raw) => !r.socket.destroyed && r.socket.readyState === "open"

const frameOf = (command: number, body: Uint8Array) =>
  Frame.encodeBuffer(Frame.defaultFrameOptions, command, body)

const failure = <A>(result: Either.Either<A, Client.ClientError | Client.CommandFailed>) => {
  if (Either.isRight(result)) throw new Error("expected an error frame")
  if (result.left._tag !== "CommandFailed")
    throw new Error(`expected an error frame, got ${result.left.message}`)
  return result.left
}

const stats = Effect.flatMap(NetServer.NetServer, (s) => s.stats)

/** The server-side id of a raw socket's connection. */
const idOf = (r: Raw) =>
  Effect.flatMap(NetServer.NetServer, (s) => s.connections).pipe(
    Effect.map((all) => all.find((c) => c.remotePort === r.socket.localPort)?.id),
    Effect.flatMap((id) => (id === undefined ? Effect.fail("not yet") : Effect.succeed(id))),
    Effect.retry(Schedule.spaced("10 millis")),
    Effect.timeout("2 seconds"),
    Effect.orDie
  )

describe("client edge: hostile bodies", () => {
  it.scopedLive("a JSON body nested 5,000 deep answers BadRequest; the node lives and serves others", () =>
    Effect.gen(function* () {
      const attacker = yield* connect
      const deep = Buffer.from(`${"[".repeat(5000)}${"]".repeat(5000)}`)
      const e = failure(yield* Effect.either(attacker.callRaw(Register.id, deep)))
      expect(e.error).toBe("BadRequest")
      expect(e.detail).toContain("nests deeper than 64")
      // a deep object inside strings does not count; a legal body still works on that connection
      expect(yield* attacker.call(Register, { user: "[[[[{{{{" })).toBe("hello [[[[{{{{")
      yield* stillServes
    }).pipe(Effect.provide(serve()))
  )

  it.scopedLive("the depth cap is the limits.maxDepth key", () =>
    Effect.gen(function* () {
      const client = yield* connect
      const nested = (n: number) => Buffer.from(`${"[".repeat(n)}${"]".repeat(n)}`)
      const at = failure(yield* Effect.either(client.callRaw(Register.id, nested(5))))
      expect(at.detail).toContain("does not match the request schema")
      const over = failure(yield* Effect.either(client.callRaw(Register.id, nested(6))))
      expect(over.detail).toContain("nests deeper than 5")
    }).pipe(Effect.provide(serve({ limits: { maxDepth: 5 } })))
  )

  it.scopedLive("a msgpack body nested 3,500 deep answers BadRequest; the node lives", () =>
    Effect.gen(function* () {
      const attacker = yield* connect
      const deep = Buffer.concat([Buffer.alloc(3500, 0x91), Buffer.of(0x90)])
      const e = failure(yield* Effect.either(attacker.callRaw(Pack.id, deep)))
      expect(e.error).toBe("BadRequest")
      expect(e.detail).toContain("nests deeper than 64")
      expect(yield* attacker.call(Pack, [[1, 2], { a: "b" }])).toBe(
        JSON.stringify([[1, 2], { a: "b" }]).length
      )
      yield* stillServes
    }).pipe(Effect.provide(serve()))
  )

  it.scopedLive("msgpack shared references, records and huge counts are refused before decoding", () =>
    Effect.gen(function* () {
      const client = yield* connect
      // 2^24 leaves through shared references: ~100 bytes on the wire
      let bomb: unknown = [1]
      for (let i = 0; i < 24; i++) bomb = [bomb, bomb]
      const shared = new Packr({ structuredClone: true }).pack(bomb)
      expect(shared.length).toBeLessThan(1000)
      const start = Date.now()
      const refs = failure(yield* Effect.either(client.callRaw(Pack.id, shared)))
      expect(refs.error).toBe("BadRequest")
      expect(Date.now() - start).toBeLessThan(1000)
      // msgpackr record definitions (structures) are refused too
      const records = new Packr({ useRecords: true }).pack([
        { a: 1, b: 2 },
        { a: 3, b: 4 }
      ])
      expect(failure(yield* Effect.either(client.callRaw(Pack.id, records))).error).toBe("BadRequest")
      // an array32 claiming 4 billion elements in 5 bytes
      const claim = Buffer.of(0xdd, 0xff, 0xff, 0xff, 0xff)
      expect(failure(yield* Effect.either(client.callRaw(Pack.id, claim))).error).toBe("BadRequest")
      yield* stillServes
    }).pipe(Effect.provide(serve()))
  )

  it.scopedLive(
    "error frames carry no internal text unless debugErrors is on; typed errors keep their tag",
    () =>
      Effect.gen(function* () {
        const quiet = yield* Effect.scoped(
          Effect.gen(function* () {
            const client = yield* connect
            return [
              failure(yield* Effect.either(client.call(Secret, ""))),
              failure(yield* Effect.either(client.call(SecretDie, ""))),
              failure(yield* Effect.either(client.call(Typed, "")))
            ]
          }).pipe(Effect.provide(serve()))
        )
        for (const e of quiet) expect(JSON.stringify(e)).not.toContain("SELECT")
        expect(quiet.map((e) => e.error)).toEqual(["HandlerFailed", "Defect", "HandlerFailed"])
        expect(quiet.map((e) => e.tag)).toEqual(["BodyError", undefined, "NodeUnavailable"])
        const loud = yield* Effect.scoped(
          Effect.gen(function* () {
            const client = yield* connect
            return [
              failure(yield* Effect.either(client.call(Secret, ""))),
              failure(yield* Effect.either(client.call(SecretDie, "")))
            ]
          }).pipe(Effect.provide(serve({ debugErrors: true })))
        )
        expect(loud[0]?.detail).toContain("SELECT secret")
        expect(loud[1]?.detail).toContain("SELECT secret")
      })
  )
})

describe("client edge: isolation", () => {
  it.scopedLive("an error thrown while serving a connection closes that connection only, counted", () =>
    Effect.gen(function* () {
      const attackers = yield* Effect.forEach(Array.from({ length: 3 }), () => raw())
      yield* Effect.forEach(attackers, (r) => send(r, frameOf(Broken.id, Buffer.from("x"))))
      yield* Effect.forEach(attackers, (r) => closedWithin(r, "2 seconds"))
      expect((yield* stats).edgeDefects).toBe(3)
      yield* stillServes
    }).pipe(Effect.provide(serve()))
  )

  it.scopedLive("a server's limits, debugErrors and idleTimeout come from its config entry", () =>
    Effect.gen(function* () {
      const loaded = HotaruConfig.fromObject(
        {
          servers: {
            net: {
              netport: 10001,
              debugErrors: true,
              idleTimeout: 0,
              limits: { maxDepth: 3, frameTimeout: 0.5, maxConnectionsPerIp: 2, perIpExempt: [] }
            }
          }
        },
        { dir: "." }
      )
      const server = Either.getOrThrow(loaded).config.servers.net!
      const options = NetServer.configOptions(server)
      expect(options.debugErrors).toBe(true)
      expect(Duration.toMillis(options.idleTimeout!)).toBe(0)
      expect(options.limits?.maxDepth).toBe(3)
      expect(Duration.toMillis(options.limits!.frameTimeout!)).toBe(500)
      const bad = HotaruConfig.fromObject(
        { servers: { net: { limits: { maxDepth: "deep", highWater: 10 } } } },
        { dir: "." }
      )
      expect(Either.isLeft(bad) && bad.left.issues).toEqual([
        "servers.net.limits.highWater: expected a byte count 1024..2^31-1, got 10",
        'servers.net.limits.maxDepth: expected an integer 1-10000, got "deep"'
      ])
      // the options in force: depth 3, and internal text shown (debugErrors)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const client = yield* connect
          const e = failure(yield* Effect.either(client.callRaw(Register.id, Buffer.from("[[[[]]]]"))))
          expect(e.detail).toContain("nested deeper than 3")
        }).pipe(Effect.provide(serve(options)))
      )
    })
  )
})

describe("client edge: logs", () => {
  it.scopedLive(
    "a flood of bad requests is answered every time but logged 5 times per window, counted",
    () => {
      const lines: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => {
          lines.push(String(Array.isArray(message) ? message[0] : message))
        })
      )
      return Effect.gen(function* () {
        const client = yield* connect
        for (let i = 0; i < 50; i++) {
          expect(failure(yield* Effect.either(client.callRaw(Register.id, Buffer.from("{bad")))).error).toBe(
            "BadRequest"
          )
        }
        expect((yield* stats).badRequests).toBe(50)
        const logged = lines.filter((l) => l.includes("badRequests"))
        expect(logged).toHaveLength(5)
        expect(logged[4]).toContain("[badRequests #5]")
        yield* stillServes
      }).pipe(Effect.provide(serve().pipe(Layer.provide(capture))))
    }
  )
})

describe("client edge: hostile framing", () => {
  it.scopedLive("a huge declared length closes that connection at once, without buffering", () =>
    Effect.gen(function* () {
      const r = yield* raw()
      const header = frameOf(Echo.id, Buffer.alloc(0))
      header.writeUInt32BE(0xfffffff0, 9)
      yield* send(r, header)
      yield* closedWithin(r, "2 seconds")
      expect((yield* stats).frameViolations).toBe(1)
      yield* stillServes
    }).pipe(Effect.provide(serve()))
  )

  it.scopedLive("an in-flight flood in one write never runs more than maxInFlight handlers at once", () =>
    Effect.gen(function* () {
      running.max = 0
      const r = yield* raw()
      const n = 2000
      const one = frameOf(Counted.id, Buffer.from("1"))
      yield* send(r, Buffer.concat(Array.from({ length: n }, () => one)))
      yield* Effect.sync(() => r.frames.length).pipe(
        Effect.repeat({ until: (got) => got >= n, schedule: Schedule.spaced("20 millis") }),
        Effect.timeout("20 seconds")
      )
      expect(r.frames.length).toBe(n)
      expect(r.frames.every((f) => f.command === Counted.id)).toBe(true)
      expect(running.max).toBeGreaterThan(1)
      expect(running.max).toBeLessThanOrEqual(8)
      yield* stillServes
    }).pipe(Effect.provide(serve({ maxInFlight: 8 })))
  )

  it.scopedLive("a frame sent one byte at a time is closed after frameTimeout; others are served", () =>
    Effect.gen(function* () {
      const r = yield* raw()
      const bytes = frameOf(Echo.id, Buffer.alloc(100, 0x61))
      const start = Date.now()
      const trickle = Effect.forEach(
        bytes,
        (b) => Effect.zipRight(send(r, Uint8Array.of(b)), Effect.sleep("50 millis")),
        { discard: true }
      )
      yield* Effect.fork(trickle)
      yield* closedWithin(r, "5 seconds")
      const took = Date.now() - start
      expect(took).toBeGreaterThanOrEqual(500)
      expect(took).toBeLessThan(3000)
      expect((yield* stats).frameTimeouts).toBe(1)
      yield* stillServes
    }).pipe(Effect.provide(serve({ idleTimeout: "20 seconds", limits: { frameTimeout: "600 millis" } })))
  )
})

describe("client edge: slow consumers", () => {
  const limits = { highWater: 16 * 1024, maxBuffered: 256 * 1024, sendTimeout: "1 second" } as const

  it.scopedLive("a client that never reads stays under maxBuffered and is kicked after sendTimeout", () =>
    Effect.gen(function* () {
      const r = yield* raw({ read: false })
      const id = yield* idOf(r)
      // 600 requests for 64 KiB replies in one write: ~39 MB the client never reads
      const ask = frameOf(Big.id, Buffer.from(String(64 * 1024)))
      yield* send(r, Buffer.concat(Array.from({ length: 600 }, () => ask)))
      const server = yield* NetServer.NetServer
      const start = Date.now()
      yield* server.connections.pipe(
        Effect.repeat({
          until: (all) => !all.some((c) => c.id === id),
          schedule: Schedule.spaced("20 millis")
        }),
        Effect.timeout("15 seconds")
      )
      const s = yield* stats
      expect(s.slowConsumers).toBe(1)
      expect(s.peakBuffered).toBeGreaterThan(0)
      expect(s.peakBuffered).toBeLessThanOrEqual(limits.maxBuffered)
      expect(Date.now() - start).toBeLessThan(10_000)
      yield* stillServes
    }).pipe(Effect.provide(serve({ limits })))
  )

  it.scopedLive("pushes piling up for a client that does not read kick it at maxBuffered", () =>
    Effect.gen(function* () {
      const r = yield* raw({ read: false })
      const id = yield* idOf(r)
      const server = yield* NetServer.NetServer
      const body = Buffer.alloc(64 * 1024, 0x62)
      // ~64 MB offered, far more than the kernel's socket buffers take
      let delivered = 0
      for (let i = 0; i < 1000; i++) {
        delivered += yield* server.pushRaw(99, body, [id])
        if (i % 50 === 49) yield* Effect.sleep("5 millis")
      }
      expect(delivered).toBeLessThan(1000)
      const s = yield* stats
      expect(s.slowConsumers).toBe(1)
      expect(s.peakBuffered).toBeLessThanOrEqual(limits.maxBuffered)
      expect((yield* server.connections).some((c) => c.id === id)).toBe(false)
      yield* stillServes
    }).pipe(Effect.provide(serve({ limits: { ...limits, sendTimeout: "30 seconds" } })))
  )
})

describe("client edge: connection limits", () => {
  const waitOpen = (n: number) =>
    Effect.flatMap(NetServer.NetServer, (s) => s.connections).pipe(
      Effect.repeat({ until: (all) => all.length === n, schedule: Schedule.spaced("10 millis") }),
      Effect.timeout("3 seconds")
    )

  it.scopedLive(
    "connections from one address beyond maxConnectionsPerIp are refused; others are served",
    () =>
      Effect.gen(function* () {
        // 127.0.0.2 is another address of the loopback interface
        const sockets = yield* Effect.forEach(Array.from({ length: 5 }), () =>
          raw({ localAddress: "127.0.0.2" })
        )
        yield* Effect.forEach(sockets.slice(3), (r) => closedWithin(r, "2 seconds"))
        expect(sockets.filter(isOpen)).toHaveLength(3)
        yield* waitOpen(3)
        expect((yield* stats).refusedPerIp).toBe(2)
        // 127.0.0.1 has its own count
        yield* stillServes
        // a freed slot can be used again
        sockets[0]!.socket.destroy()
        yield* waitOpen(2)
        const again = yield* raw({ localAddress: "127.0.0.2" })
        yield* waitOpen(3)
        expect(isOpen(again)).toBe(true)
      }).pipe(Effect.provide(serve({ limits: { maxConnectionsPerIp: 3, perIpExempt: [] } })))
  )

  it.scopedLive("connections beyond maxConnections are refused", () =>
    Effect.gen(function* () {
      const sockets = yield* Effect.forEach(Array.from({ length: 4 }), () => raw())
      yield* waitOpen(4)
      const extra = yield* raw()
      yield* closedWithin(extra, "2 seconds")
      expect((yield* stats).refusedMaxConnections).toBe(1)
      sockets[0]!.socket.destroy()
      yield* waitOpen(3)
      yield* stillServes
    }).pipe(Effect.provide(serve({ limits: { maxConnections: 4 } })))
  )

  it.scoped("idle connections are closed after 60 s by default", () =>
    Effect.gen(function* () {
      const r = yield* raw()
      const realSleep = (ms: number) =>
        Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
      yield* realSleep(100)
      expect((yield* stats).connections).toBe(1)
      yield* TestClock.adjust("59 seconds")
      yield* realSleep(50)
      expect(isOpen(r)).toBe(true)
      yield* TestClock.adjust("2 seconds")
      yield* Effect.promise(() => r.closed)
      expect((yield* stats).idleTimeouts).toBe(1)
    }).pipe(Effect.provide(serve()))
  )
})
