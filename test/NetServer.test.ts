import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Deferred, Effect, Either, Exit, Fiber, Layer, Schema, Stream } from "effect"
import * as Client from "../src/Client.js"
import * as Frame from "../src/internal/edge/frame.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetServer from "../src/NetServer.js"

const Echo = NetCommand.text(1, { name: "echo" })
const Slow = NetCommand.json(2, {
  request: Schema.Struct({ delayMs: Schema.Number, tag: Schema.String }),
  response: Schema.String
})
class Nope extends Schema.TaggedError<Nope>()("Nope", { why: Schema.String }) {}
const Fail = NetCommand.text(3, { error: Nope })
const Die = NetCommand.text(4)
const Silent = NetCommand.text(5)
const PushAll = NetCommand.text(6)
const Pushed = NetCommand.text(7)
const Who = NetCommand.text(8)
const Add = NetCommand.msgpack(9, {
  request: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  response: Schema.Number
})
const Raw = NetCommand.bytes(10)

const App = Layer.mergeAll(
  NetServer.handle(Echo, (body) => Effect.succeed(body)),
  NetServer.handle(Slow, ({ delayMs, tag }) => Effect.as(Effect.sleep(delayMs), tag)),
  NetServer.handle(Fail, (body) => Effect.fail(new Nope({ why: body }))),
  NetServer.handle(Die, () => Effect.die("boom")),
  NetServer.handle(Silent, () => Effect.void),
  NetServer.handle(PushAll, (body, conn) =>
    Effect.gen(function* () {
      const server = yield* NetServer.NetServer
      const ids = (yield* server.connections).map((c) => c.id).filter((id) => id !== conn.id)
      const n = yield* server.push(Pushed, body, ids)
      return String(n)
    })
  ),
  NetServer.handle(Who, () => Effect.map(NetServer.CurrentConnection, (c) => `${c.id}@${c.remoteAddress}`)),
  NetServer.handle(Add, ({ a, b }) => Effect.succeed(a + b)),
  NetServer.handle(Raw, (bytes) => Effect.succeed(Uint8Array.from(bytes).reverse()))
)

const Server = NetServer.serve(App, { host: "127.0.0.1", port: 0, idleTimeout: "400 millis", maxInFlight: 4 })

const connect = Effect.flatMap(NetServer.NetServer, (server) =>
  Client.connect({ host: "127.0.0.1", port: server.address.port, timeout: "5 seconds" })
)

describe("NetServer over real TCP", () => {
  it.scopedLive("echoes text, json, msgpack and bytes", () =>
    Effect.gen(function* () {
      const client = yield* connect
      expect(yield* client.call(Echo, "msgdata")).toBe("msgdata")
      expect(yield* client.call(Echo, "ひかり")).toBe("ひかり")
      expect(yield* client.call(Add, { a: 2, b: 40 })).toBe(42)
      expect([...(yield* client.call(Raw, Uint8Array.of(1, 2, 3)))]).toEqual([3, 2, 1])
    }).pipe(Effect.provide(Server))
  )

  it.scopedLive("answers pipelined requests in order, even when later ones finish first", () =>
    Effect.gen(function* () {
      const client = yield* connect
      const calls = [50, 5, 30, 0, 10, 1, 20, 2].map((delayMs, i) =>
        client.call(Slow, { delayMs, tag: `r${i}` })
      )
      const order: Array<string> = []
      const results = yield* Effect.all(
        calls.map((c) => Effect.tap(c, (r) => Effect.sync(() => order.push(r)))),
        { concurrency: "unbounded" }
      )
      expect(results).toEqual(["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"])
      expect(order).toEqual(results)
    }).pipe(Effect.provide(Server))
  )

  it.scopedLive("decodes a request sent one byte at a time", () =>
    Effect.gen(function* () {
      const client = yield* connect
      // written one byte per write, the reply has no pending call: it arrives as a frame on `pushes`
      const bytes = Frame.encodeBuffer(Frame.defaultFrameOptions, Echo.id, Buffer.from("bytewise"))
      for (const b of bytes) {
        yield* client.writeBytes(Uint8Array.of(b))
        yield* Effect.sleep("1 millis")
      }
      const [push] = yield* client.pushes.pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.toArray))
      expect(push?.command).toBe(Echo.id)
      expect(Buffer.from(push!.body).toString()).toBe("bytewise")
      expect(yield* client.call(Echo, "after")).toBe("after")
    }).pipe(Effect.provide(Server))
  )

  it.scopedLive("pushes to a chosen set of connections", () =>
    Effect.gen(function* () {
      const a = yield* connect
      const b = yield* connect
      const c = yield* connect
      // make sure all three are registered
      yield* Effect.forEach([a, b, c], (x) => x.call(Echo, "hi"))
      const gotB = yield* Effect.fork(b.pushesOf(Pushed).pipe(Stream.take(1), Stream.runCollect))
      const gotC = yield* Effect.fork(c.pushesOf(Pushed).pipe(Stream.take(1), Stream.runCollect))
      expect(yield* a.call(PushAll, "news")).toBe("2")
      expect(Chunk.toArray(yield* Fiber.join(gotB))).toEqual(["news"])
      expect(Chunk.toArray(yield* Fiber.join(gotC))).toEqual(["news"])
      // a got no push, only its reply
      const server = yield* NetServer.NetServer
      expect(yield* server.push(Pushed, "x", [999_999])).toBe(0)
      expect(yield* server.broadcast(Pushed, "all")).toBe(3)
      const fromA = yield* a.pushesOf(Pushed).pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.toArray(fromA)).toEqual(["all"])
    }).pipe(Effect.provide(Server))
  )

  it.scopedLive(
    "answers the documented error frame for unknown commands, failures, defects and bad bodies",
    () =>
      Effect.gen(function* () {
        const client = yield* connect
        const unknown = yield* Effect.either(client.callRaw(4242, Buffer.from("?")))
        expect(Either.isLeft(unknown) && unknown.left._tag === "CommandFailed" && unknown.left.error).toBe(
          "UnknownCommand"
        )
        // raw, the declared failure is an error frame with its tag; typed, it is the error itself
        const failed = yield* Effect.either(client.callRaw(Fail.id, Buffer.from("because")))
        expect(Either.isLeft(failed) && failed.left).toMatchObject({
          error: "HandlerFailed",
          tag: "Nope",
          command: 3
        })
        expect(yield* Effect.flip(client.call(Fail, "because"))).toEqual(new Nope({ why: "because" }))
        const died = yield* Effect.either(client.call(Die, ""))
        expect(Either.isLeft(died) && died.left).toMatchObject({ error: "Defect", command: 4 })
        const bad = yield* Effect.either(client.callRaw(Slow.id, Buffer.from("{not json")))
        expect(Either.isLeft(bad) && bad.left).toMatchObject({ error: "BadRequest", command: 2 })
        // the connection is still fine
        expect(yield* client.call(Echo, "still here")).toBe("still here")
      }).pipe(Effect.provide(Server))
  )

  it.scopedLive("the error frame is the documented wire format", () =>
    Effect.gen(function* () {
      const client = yield* connect
      yield* client.writeBytes(Frame.encodeBuffer(Frame.defaultFrameOptions, 4242, Buffer.alloc(0)))
      const [push] = yield* client.pushes.pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.toArray))
      expect(push?.command).toBe(0xffffffff)
      expect(JSON.parse(Buffer.from(push!.body).toString())).toEqual({
        command: 4242,
        error: "UnknownCommand",
        message: "no handler for command 4242"
      })
    }).pipe(Effect.provide(Server))
  )

  it.scopedLive("a handler that returns nothing sends nothing", () =>
    Effect.gen(function* () {
      const client = yield* connect
      yield* client.send(Silent, "x")
      expect(yield* client.call(Echo, "after")).toBe("after")
      const r = yield* Effect.either(client.callRaw(Silent.id, Buffer.from("y"), { timeout: "150 millis" }))
      expect(Either.isLeft(r) && r.left._tag).toBe("ClientError")
    }).pipe(Effect.provide(Server))
  )

  it.scopedLive("a wrong header or an oversized length closes only that connection", () =>
    Effect.gen(function* () {
      const good = yield* connect
      const badHead = yield* connect
      const oversized = yield* connect
      yield* badHead.writeBytes(
        Frame.encodeBuffer({ ...Frame.defaultFrameOptions, head: [9, 9, 9, 9] }, 1, Buffer.from("x"))
      )
      const header = Frame.encodeBuffer(Frame.defaultFrameOptions, 1, Buffer.alloc(0))
      header.writeUInt32BE(64 * 1024 * 1024, 9)
      yield* oversized.writeBytes(header)
      yield* badHead.closed.pipe(Effect.timeout("2 seconds"))
      yield* oversized.closed.pipe(Effect.timeout("2 seconds"))
      expect(yield* good.call(Echo, "unaffected")).toBe("unaffected")
      const server = yield* NetServer.NetServer
      expect((yield* server.connections).length).toBe(1)
    }).pipe(Effect.provide(Server))
  )

  it.scopedLive("kicks one connection and reports connect/disconnect hooks", () =>
    Effect.gen(function* () {
      const events: Array<string> = []
      const left = yield* Deferred.make<void>()
      const hooks = Layer.mergeAll(
        NetServer.onConnect((c) => Effect.sync(() => events.push(`in ${c.id}`))),
        NetServer.onDisconnect((c) =>
          Effect.zipRight(
            Effect.sync(() => events.push(`out ${c.id}`)),
            Deferred.succeed(left, void 0)
          )
        )
      )
      const server = NetServer.serve(Layer.merge(App, hooks), { host: "127.0.0.1", port: 0 })
      yield* Effect.gen(function* () {
        const a = yield* connect
        const b = yield* connect
        const idA = Number((yield* a.call(Who, "")).split("@")[0])
        yield* b.call(Who, "")
        const net = yield* NetServer.NetServer
        expect(yield* net.kick(idA)).toBe(true)
        yield* a.closed.pipe(Effect.timeout("2 seconds"))
        yield* Deferred.await(left).pipe(Effect.timeout("2 seconds"))
        expect(yield* b.call(Echo, "ok")).toBe("ok")
        expect(events).toContain(`in ${idA}`)
        expect(events).toContain(`out ${idA}`)
        expect(yield* net.kick(idA)).toBe(false)
      }).pipe(Effect.provide(server))
    })
  )

  it.scopedLive("closes idle connections after idleTimeout", () =>
    Effect.gen(function* () {
      const client = yield* connect
      expect(yield* client.call(Echo, "x")).toBe("x")
      const start = Date.now()
      yield* client.closed.pipe(Effect.timeout("3 seconds"))
      expect(Date.now() - start).toBeGreaterThanOrEqual(300)
    }).pipe(Effect.provide(Server))
  )

  it.scopedLive("bounds requests in flight per connection and still answers them all", () =>
    Effect.gen(function* () {
      const client = yield* connect
      const results = yield* Effect.all(
        Array.from({ length: 40 }, (_, i) => client.call(Slow, { delayMs: 5, tag: String(i) })),
        { concurrency: "unbounded" }
      )
      expect(results).toEqual(Array.from({ length: 40 }, (_, i) => String(i)))
    }).pipe(Effect.provide(Server))
  )
})

describe("NetRouter", () => {
  it.effect("is read-only from outside: handlers register through it, a second handler dies", () =>
    Effect.gen(function* () {
      const router = yield* NetServer.makeRouter
      yield* Layer.build(NetServer.handle(Echo, (body) => Effect.succeed(body))).pipe(
        Effect.provideService(NetServer.NetRouter, router)
      )
      expect([...router.routes.keys()]).toEqual([Echo.id])
      expect(router.routes.get(Echo.id)?.command.name).toBe("echo")
      // type checks only (never called): nothing outside the router can change what it holds
      const mutate = () => {
        // @ts-expect-error the routes are a read-only view
        router.routes.set(Echo.id, router.routes.get(Echo.id))
        // @ts-expect-error the hooks are a read-only view
        router.onConnect.push(() => Effect.void)
      }
      expect(mutate).toBeTypeOf("function")
      const Echo2 = NetCommand.text(Echo.id, { name: "echo2" })
      const twice = yield* Effect.exit(
        Layer.build(NetServer.handle(Echo2, (body) => Effect.succeed(body))).pipe(
          Effect.provideService(NetServer.NetRouter, router)
        )
      )
      expect(Exit.isFailure(twice) && Cause.pretty(twice.cause)).toContain("has two handlers: echo and echo2")
      expect(router.routes.get(Echo.id)?.command.name).toBe("echo")
    }).pipe(Effect.scoped)
  )

  it.effect("replace takes another router's routes and hooks in one step", () =>
    Effect.gen(function* () {
      const live = yield* NetServer.makeRouter
      const staging = yield* NetServer.makeRouter
      yield* Layer.build(NetServer.handle(Echo, (body) => Effect.succeed(body))).pipe(
        Effect.provideService(NetServer.NetRouter, live)
      )
      yield* Layer.build(
        Layer.merge(
          NetServer.handle(Add, ({ a, b }) => Effect.succeed(a + b)),
          NetServer.onConnect(() => Effect.void)
        )
      ).pipe(Effect.provideService(NetServer.NetRouter, staging))
      const view = live.routes
      yield* live.replace(staging)
      expect([...view.keys()]).toEqual([Add.id])
      expect(live.onConnect.length).toBe(1)
      expect(live.onDisconnect.length).toBe(0)
      yield* live.replace(live)
      expect([...live.routes.keys()]).toEqual([Add.id])
    }).pipe(Effect.scoped)
  )
})
