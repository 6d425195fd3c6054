/**
 * Channels over real sockets: join, push to members across TCP and WebSocket, leave, the end of
 * membership with the connection, and the bound on channels per connection.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema, Stream } from "effect"
import * as Channel from "../src/Channel.js"
import * as Client from "../src/Client.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetServer from "../src/NetServer.js"

const Join = NetCommand.text(1, { error: Channel.ChannelRefused })
const Leave = NetCommand.json(2, { request: Schema.String, response: Schema.Boolean })
const Say = NetCommand.json(3, {
  request: Schema.Struct({ room: Schema.String, text: Schema.String }),
  response: Schema.Number
})
const Said = NetCommand.text(4)
const Members = NetCommand.json(5, { request: Schema.String, response: Schema.Number })

const App = Layer.mergeAll(
  NetServer.handle(Join, (room) => Effect.as(Channel.join(room), "joined")),
  NetServer.handle(Leave, (room) => Channel.leave(room)),
  NetServer.handle(Say, ({ room, text }) => Channel.push(room, Said, text)),
  NetServer.handle(Members, (room) => Effect.map(Channel.members(room), (m) => m.length))
)

const Server = NetServer.serve(App, { host: "127.0.0.1", port: 0, webSocket: { host: "127.0.0.1", port: 0 } })
const tcp = Effect.flatMap(NetServer.NetServer, (s) =>
  Client.connect({ host: "127.0.0.1", port: s.addresses.tcp!.port, timeout: "5 seconds" })
)
const browser = Effect.flatMap(NetServer.NetServer, (s) =>
  Client.connectWebSocket({ url: `ws://127.0.0.1:${s.addresses.webSocket!.port}/`, timeout: "5 seconds" })
)

describe("Channel", () => {
  it.scopedLive(
    "push reaches the members on both transports, not the others; leave and close end membership",
    () =>
      Effect.gen(function* () {
        const a = yield* tcp
        const b = yield* browser
        const outsider = yield* tcp
        expect(yield* a.call(Join, "room:1")).toBe("joined")
        expect(yield* b.call(Join, "room:1")).toBe("joined")
        expect(yield* b.call(Join, "room:1")).toBe("joined") // joining twice is one membership
        expect(yield* outsider.call(Members, "room:1")).toBe(2)
        const heard = yield* b.pushesOf(Said).pipe(Stream.take(2), Stream.runCollect, Effect.fork)
        const overheard = yield* outsider.pushesOf(Said).pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("30 millis")
        expect(yield* outsider.call(Say, { room: "room:1", text: "hello" })).toBe(2)
        expect(yield* outsider.call(Say, { room: "room:2", text: "nobody" })).toBe(0)
        expect(yield* a.call(Leave, "room:1")).toBe(true)
        expect(yield* a.call(Leave, "room:1")).toBe(false)
        expect(yield* outsider.call(Say, { room: "room:1", text: "again" })).toBe(1)
        expect([...(yield* Fiber.join(heard))]).toEqual(["hello", "again"])
        yield* b.close
        yield* b.closed
        yield* Effect.sleep("50 millis")
        expect(yield* outsider.call(Members, "room:1")).toBe(0)
        expect(overheard.unsafePoll()).toBeNull()
      }).pipe(Effect.provide(Server))
  )

  it.scopedLive("a connection in too many channels is refused, typed", () =>
    Effect.gen(function* () {
      const client = yield* tcp
      for (let i = 0; i < Channel.MAX_CHANNELS_PER_CONNECTION; i++) yield* client.call(Join, `c${i}`)
      const refused = yield* Effect.flip(client.call(Join, "one-more"))
      expect(refused).toMatchObject({ _tag: "ChannelRefused", reason: "TooMany", channel: "one-more" })
      expect(yield* client.call(Members, "c0")).toBe(1)
    }).pipe(Effect.provide(Server))
  )
})
