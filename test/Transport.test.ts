import * as Net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Transport from "../src/Transport.js"
import { type Link, MemoryNetwork } from "../src/Transport.js"
import { until } from "./support/wait.js"

const local = { host: "127.0.0.1", port: 0 }

/** Take `n` messages from a link. */
const receive = (link: Link, n: number) => Effect.forEach(Array.from({ length: n }), () => link.incoming.take)

/** Listen, dial, and return both ends (accepted end first). */
const pair = Effect.gen(function* () {
  const transport = yield* Transport.Transport
  const listener = yield* transport.listen(local)
  const client = yield* transport.dial(listener.address)
  const server = yield* listener.accept.pipe(Stream.runHead, Effect.flatten)
  // as after a handshake: the pre-authentication limits are lifted
  client.unsafeAuthenticated()
  server.unsafeAuthenticated()
  return { listener, client, server }
})

const sample = {
  text: "héllo",
  n: 42,
  float: 1.5,
  list: [1, "two", null, true],
  nested: { deep: { bytes: new Uint8Array([1, 2, 3, 255]) } }
}

const roundtrip = Effect.gen(function* () {
  const { client, server, listener } = yield* pair
  expect(listener.address.port).toBeGreaterThan(0)
  for (let i = 0; i < 500; i++) client.unsafeSend({ i, sample })
  const got = yield* receive(server, 500)
  expect(got.map((m) => (m as { i: number }).i)).toEqual(Array.from({ length: 500 }, (_, i) => i))
  const first = got[0] as { sample: typeof sample }
  expect(first.sample.text).toBe("héllo")
  expect(first.sample.list).toEqual([1, "two", null, true])
  expect([...first.sample.nested.deep.bytes]).toEqual([1, 2, 3, 255])
  // and back
  server.unsafeSend(["pong", 1])
  expect(yield* client.incoming.take).toEqual(["pong", 1])
})

const gracefulClose = Effect.gen(function* () {
  const { client, server } = yield* pair
  client.unsafeSend("last words")
  client.unsafeClose()
  expect(client.isClosed()).toBe(true)
  expect(yield* server.incoming.take).toBe("last words")
  const why = yield* server.closed
  expect(why.reason).toBe("PeerClosed")
  expect((yield* client.closed).reason).toBe("Closed")
  // sends after close are dropped, never thrown
  client.unsafeSend("ignored")
})

const dialNowhere = Effect.gen(function* () {
  const transport = yield* Transport.Transport
  const scope = yield* Scope.make()
  const listener = yield* transport.listen(local).pipe(Scope.extend(scope))
  yield* Scope.close(scope, Exit.void)
  const error = yield* Effect.flip(transport.dial(listener.address))
  expect(error._tag).toBe("TransportError")
  expect(error.reason).toBe("DialFailed")
})

const contract = (name: string, effect: Effect.Effect<void, unknown, Scope.Scope | Transport.Transport>) => {
  describe(name, () => {
    it.scoped("memory transport", () => effect.pipe(Effect.provide(Transport.layerMemory)))
    it.scopedLive("tcp transport", () =>
      effect.pipe(Effect.provide(Transport.layerTcp()), Effect.timeout("10 seconds"))
    )
  })
}

contract("Transport: messages arrive intact and in order, both ways", roundtrip)
contract("Transport: close flushes pending messages, then the peer sees EOF", gracefulClose)
contract("Transport: dialing a closed listener fails with DialFailed", dialNowhere)

describe("Transport.layerTcp", () => {
  it.scopedLive("sends in the same tick are coalesced into one socket write", () =>
    Effect.gen(function* () {
      const chunks: Array<Buffer> = []
      const server = Net.createServer((socket) => socket.on("data", (chunk: Buffer) => chunks.push(chunk)))
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => {
          server.listen(0, "127.0.0.1", () => resume(Effect.void))
        }),
        () => Effect.sync(() => void server.close())
      )
      const port = (server.address() as Net.AddressInfo).port
      const transport = yield* Transport.Transport
      const link = yield* transport.dial({ host: "127.0.0.1", port })
      for (let i = 0; i < 100; i++) link.unsafeSend({ i })
      const framesIn = (all: Buffer) => {
        let frames = 0
        for (let offset = 0; offset + 4 <= all.length; frames++) offset += 4 + all.readUInt32BE(offset)
        return frames
      }
      yield* until("the 100 frames to arrive", () => framesIn(Buffer.concat(chunks)) >= 100, 5_000)
      const all = Buffer.concat(chunks)
      let frames = 0
      for (let offset = 0; offset < all.length; frames++) offset += 4 + all.readUInt32BE(offset)
      expect(frames).toBe(100)
      expect(chunks.length).toBe(1)
    }).pipe(Effect.provide(Transport.layerTcp()))
  )

  it.scopedLive(
    "a message above maxFrameBytes fails at the sender; a frame above it closes the receiving link",
    () =>
      Effect.gen(function* () {
        const { client } = yield* pair
        expect(() => client.unsafeSend("x".repeat(2000))).toThrow(/exceeds maxFrameBytes 1024/)
        expect(client.isClosed()).toBe(false)
        const transport = yield* Transport.Transport
        const listener = yield* transport.listen(local)
        const socket = Net.connect(listener.address.port, "127.0.0.1")
        yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
        const server = yield* listener.accept.pipe(Stream.runHead, Effect.flatten)
        server.unsafeAuthenticated()
        const header = Buffer.alloc(4)
        header.writeUInt32BE(2000)
        socket.write(Buffer.concat([header, Buffer.alloc(2000)]))
        expect((yield* server.closed).reason).toBe("FrameTooLarge")
      }).pipe(Effect.provide(Transport.layerTcp({ maxFrameBytes: 1024 })), Effect.timeout("5 seconds"))
  )

  it.scopedLive("before authentication a link takes only a few frames of at most 4 KiB", () =>
    Effect.gen(function* () {
      const transport = yield* Transport.Transport
      const listener = yield* transport.listen(local)
      const big = yield* transport.dial(listener.address)
      const bigServer = yield* listener.accept.pipe(Stream.runHead, Effect.flatten)
      big.unsafeSend("x".repeat(5000))
      expect((yield* bigServer.closed).reason).toBe("FrameTooLarge")
      const many = yield* transport.dial(listener.address)
      const manyServer = yield* listener.accept.pipe(Stream.runHead, Effect.flatten)
      for (let i = 0; i < 10; i++) many.unsafeSend(["small", i])
      expect((yield* manyServer.closed).reason).toBe("TooManyFrames")
    }).pipe(Effect.provide(Transport.layerTcp()), Effect.timeout("5 seconds"))
  )

  it.scopedLive("listening on a port in use fails with ListenFailed", () =>
    Effect.gen(function* () {
      const transport = yield* Transport.Transport
      const first = yield* transport.listen(local)
      const error = yield* Effect.flip(transport.listen(first.address))
      expect(error.reason).toBe("ListenFailed")
    }).pipe(Effect.provide(Transport.layerTcp()))
  )
})

describe("Transport.layerMemory", () => {
  it.scoped("messages are handed over without serialization", () =>
    Effect.gen(function* () {
      const { client, server } = yield* pair
      const message = { big: new Uint8Array(16) }
      client.unsafeSend(message)
      expect(yield* server.incoming.take).toBe(message)
    }).pipe(Effect.provide(Transport.layerMemory))
  )

  it.scoped("cut closes both ends; block refuses dials until unblock", () =>
    Effect.gen(function* () {
      const network = yield* MemoryNetwork
      const transport = yield* Transport.Transport
      const { client, listener, server } = yield* pair
      yield* network.cut(listener.address)
      expect((yield* client.closed).reason).toBe("Cut")
      expect((yield* server.closed).reason).toBe("Cut")

      const again = yield* transport.dial(listener.address)
      yield* network.block(listener.address)
      expect((yield* again.closed).reason).toBe("Cut")
      const error = yield* Effect.flip(transport.dial(listener.address))
      expect(error.reason).toBe("DialFailed")
      yield* network.unblock(listener.address)
      const back = yield* transport.dial(listener.address)
      expect(back.isClosed()).toBe(false)
    }).pipe(Effect.provide(Transport.layerMemory))
  )

  it.scoped("delay holds messages until the TestClock passes it", () =>
    Effect.gen(function* () {
      const network = yield* MemoryNetwork
      const { client, listener, server } = yield* pair
      yield* network.delay(listener.address, "5 seconds")
      client.unsafeSend("slow")
      const received = yield* Effect.fork(server.incoming.take)
      yield* TestClock.adjust("4 seconds")
      expect(received.unsafePoll()).toBeNull()
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(received)).toBe("slow")
      yield* network.delay(listener.address, 0)
      client.unsafeSend("fast")
      expect(yield* server.incoming.take).toBe("fast")
    }).pipe(Effect.provide(Transport.layerMemory))
  )
})
