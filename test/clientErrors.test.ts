/**
 * The typed client edge, end to end over real sockets on 127.0.0.1: a command's declared errors
 * travel in the error frame's `value` and `Client.call` fails with them decoded; commands that
 * declare none keep the firefly-compatible frame; a hostile server's error frames fail the call
 * with a clear `ClientError`, never a throw.
 */
import * as Net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Option, Schema, Stream } from "effect"
import * as Client from "../src/Client.js"
import * as Frame from "../src/internal/edge/frame.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetCommandGroup from "../src/NetCommandGroup.js"
import * as NetServer from "../src/NetServer.js"
import { NodeUnavailable } from "../src/NodeError.js"

class RoomFull extends Schema.TaggedError<RoomFull>()("RoomFull", {
  room: Schema.String,
  seats: Schema.Int
}) {}
class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { room: Schema.String }) {}

const Join = NetCommand.json(1, {
  name: "join",
  request: Schema.Struct({ room: Schema.String }),
  response: Schema.Struct({ seat: Schema.Int }),
  error: Schema.Union(RoomFull, NotFound)
})
/** No error schema: what every command was before, and what firefly clients know. */
const Leave = NetCommand.text(2, { name: "leave" })
const Ping = NetCommand.msgpack(3, {
  name: "ping",
  request: Schema.Number,
  response: Schema.Number,
  error: NotFound
})

const Lobby = NetCommandGroup.make(Join, Leave, Ping)

const App = Lobby.toLayer({
  join: ({ room }) =>
    room === "full"
      ? Effect.fail(new RoomFull({ room, seats: 4 }))
      : room === "down"
        ? // not declared by join: the client gets HandlerFailed with its tag, no value
          Effect.fail(new NodeUnavailable({ node: "rooms", reason: "NotConnected" }))
        : room.startsWith("room")
          ? Effect.succeed({ seat: room.length })
          : Effect.fail(new NotFound({ room })),
  leave: (who) => Effect.fail(new NodeUnavailable({ node: who, reason: "LinkLost" })),
  ping: (n) => (n < 0 ? Effect.fail(new NotFound({ room: String(n) })) : Effect.succeed(n + 1))
})

const Server = NetServer.serve(App, { host: "127.0.0.1", port: 0 })

const connect = Effect.flatMap(NetServer.NetServer, (server) =>
  Client.connect({ host: "127.0.0.1", port: server.address.port, timeout: "5 seconds" })
)

/** The next frame the client gets that answers no call (here: an error frame sent raw). */
const nextPush = (client: Client.Client) =>
  client.pushes.pipe(
    Stream.take(1),
    Stream.runCollect,
    Effect.map((c) => Chunk.unsafeHead(c))
  )

const errorFrame = (json: string) =>
  Frame.encodeBuffer(Frame.defaultFrameOptions, NetCommand.ERROR_COMMAND, Buffer.from(json, "utf8"))

describe("typed client edge", () => {
  it.scopedLive("a handler's declared error reaches the client decoded: catchTag works", () =>
    Effect.gen(function* () {
      const client = yield* connect
      expect(yield* client.call(Join, { room: "room1" })).toEqual({ seat: 5 })
      const seat = yield* client
        .call(Join, { room: "full" })
        .pipe(Effect.catchTag("RoomFull", (e) => Effect.succeed({ seat: -e.seats })))
      expect(seat).toEqual({ seat: -4 })
      const missing = yield* Effect.flip(client.call(Join, { room: "lobby" }))
      expect(missing).toBeInstanceOf(NotFound)
      expect(missing).toEqual(new NotFound({ room: "lobby" }))
      // a msgpack command's declared error travels the same way (as JSON in the error frame)
      expect(yield* client.call(Ping, 1)).toBe(2)
      expect(yield* Effect.flip(client.call(Ping, -1))).toEqual(new NotFound({ room: "-1" }))
      // the connection goes on
      expect(yield* client.call(Join, { room: "room22" })).toEqual({ seat: 6 })
    }).pipe(Effect.provide(Server))
  )

  it.scopedLive("the error frame of a declared error carries it encoded in `value`", () =>
    Effect.gen(function* () {
      const client = yield* connect
      yield* client.writeBytes(
        Frame.encodeBuffer(Frame.defaultFrameOptions, Join.id, Buffer.from(JSON.stringify({ room: "full" })))
      )
      const push = yield* nextPush(client)
      expect(push.command).toBe(NetCommand.ERROR_COMMAND)
      expect(JSON.parse(Buffer.from(push.body).toString("utf8"))).toEqual({
        command: 1,
        error: "HandlerFailed",
        message: "join failed",
        tag: "RoomFull",
        value: { _tag: "RoomFull", room: "full", seats: 4 }
      })
    }).pipe(Effect.provide(Server))
  )

  it.scopedLive(
    "a command without an error schema answers the old frame, byte for byte (CommandFailed)",
    () =>
      Effect.gen(function* () {
        const client = yield* connect
        yield* client.writeBytes(Frame.encodeBuffer(Frame.defaultFrameOptions, Leave.id, Buffer.from("sam")))
        const push = yield* nextPush(client)
        const wire = Frame.encodeBuffer(Frame.defaultFrameOptions, push.command, push.body)
        expect(
          wire.equals(
            errorFrame(
              '{"command":2,"error":"HandlerFailed","message":"leave failed","tag":"NodeUnavailable"}'
            )
          )
        ).toBe(true)
        const failed = yield* Effect.flip(client.call(Leave, "sam"))
        expect(failed).toEqual(
          new Client.CommandFailed({
            command: 2,
            error: "HandlerFailed",
            detail: "leave failed",
            tag: "NodeUnavailable"
          })
        )
      }).pipe(Effect.provide(Server))
  )

  it.scopedLive(
    "a failure the command does not declare is HandlerFailed with its tag, no value, no text",
    () =>
      Effect.gen(function* () {
        const client = yield* connect
        const failed = yield* Effect.flip(client.call(Join, { room: "down" }))
        expect(failed).toEqual(
          new Client.CommandFailed({
            command: 1,
            error: "HandlerFailed",
            detail: "join failed",
            tag: "NodeUnavailable"
          })
        )
        yield* client.writeBytes(
          Frame.encodeBuffer(
            Frame.defaultFrameOptions,
            Join.id,
            Buffer.from(JSON.stringify({ room: "down" }))
          )
        )
        const body = Buffer.from((yield* nextPush(client)).body).toString("utf8")
        expect(JSON.parse(body)).not.toHaveProperty("value")
        expect(body).not.toContain("rooms")
      }).pipe(Effect.provide(Server))
  )

  it("encodeError sends only declared errors that JSON can carry and a client accepts", () => {
    expect(Join.encodeError(new RoomFull({ room: "r", seats: 1 }))).toEqual(
      Option.some({ _tag: "RoomFull", room: "r", seats: 1 })
    )
    expect(Join.encodeError(new NodeUnavailable({ node: "n", reason: "LinkLost" }))).toEqual(Option.none())
    expect(Join.encodeError("RoomFull")).toEqual(Option.none())
    expect(Leave.encodeError(new RoomFull({ room: "r", seats: 1 }))).toEqual(Option.none())
    const Deep = NetCommand.text(20, { error: Schema.Unknown })
    let deep: unknown = 1
    for (let i = 0; i < 100; i++) deep = [deep]
    expect(Deep.encodeError(deep)).toEqual(Option.none())
    expect(Deep.encodeError(10n)).toEqual(Option.none())
    expect(Deep.encodeError([[1]])).toEqual(Option.some([[1]]))
    expect(Either.isLeft(Join.decodeError({ _tag: "Banned" }))).toBe(true)
    expect(Either.isLeft(Leave.decodeError({ _tag: "RoomFull", room: "r", seats: 1 }))).toBe(true)
  })

  it("a group refuses two commands with one id or one name, and a missing handler at run time", () => {
    expect(() => NetCommandGroup.make(Join, NetCommand.text(1, { name: "other" }))).toThrow(RangeError)
    expect(() => NetCommandGroup.make(Join, NetCommand.text(9, { name: "join" }))).toThrow(RangeError)
    const handlers = { join: () => Effect.succeed({ seat: 1 }), ping: Effect.succeed }
    // @ts-expect-error leave has no handler (as plain JS could do)
    expect(() => Lobby.toLayer(handlers)).toThrow(/no handler for command leave/)
  })
})

/**
 * A fake server on 127.0.0.1:0 that answers every request with the frame `reply(command)` (as
 * raw bytes), to play a hostile or broken hotaru server.
 */
const fakeServer = (reply: (command: number) => Buffer) =>
  Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer((socket) => {
        socket.on("error", () => {})
        const decoder = new Frame.Decoder(Frame.defaultFrameOptions)
        socket.on("data", (chunk) => {
          decoder.push(chunk, (command) => {
            socket.write(reply(command))
          })
        })
      })
      server.listen({ host: "127.0.0.1", port: 0 }, () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(
    Effect.flatMap((server) => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      return Client.connect({ host: "127.0.0.1", port, timeout: "3 seconds" })
    })
  )

const body = (command: number, fields: Record<string, unknown>) =>
  JSON.stringify({ command, error: "HandlerFailed", message: "join failed", tag: "RoomFull", ...fields })

const clientError = (e: unknown) => {
  if (!(e instanceof Client.ClientError)) throw new Error(`expected a ClientError, got ${String(e)}`)
  return e
}

describe("typed client edge: a hostile server's error frames", () => {
  it.scopedLive("JSON nested too deep fails the call (and the connection) with ClientError Decode", () =>
    Effect.gen(function* () {
      const deep = `${"[".repeat(200_000)}${"]".repeat(200_000)}`
      const client = yield* fakeServer(() => errorFrame(deep))
      const e = clientError(yield* Effect.flip(client.call(Join, { room: "r" })))
      expect(e.reason).toBe("Decode")
      expect(e.detail).toContain("nested deeper than 64")
      yield* client.closed.pipe(Effect.timeout("2 seconds"))
      // a value nested within the frame's JSON also counts
      const deepValue = yield* fakeServer(() =>
        errorFrame(body(1, { value: JSON.parse(`${"[".repeat(70)}${"]".repeat(70)}`) }))
      )
      expect(clientError(yield* Effect.flip(deepValue.call(Join, { room: "r" }))).reason).toBe("Decode")
    })
  )

  it.scopedLive("an error frame that is not JSON or not an ErrorBody fails with ClientError Decode", () =>
    Effect.gen(function* () {
      for (const text of [
        "{not json",
        '"just a string"',
        '{"command":"1","error":"HandlerFailed"}',
        "\uFFFF\u0000"
      ]) {
        const client = yield* fakeServer(() => errorFrame(text))
        const e = clientError(yield* Effect.flip(client.call(Join, { room: "r" })))
        expect(e.reason).toBe("Decode")
        expect(e.detail).toMatch(/^bad error frame from server/)
        expect(e.detail.length).toBeLessThan(400)
      }
    })
  )

  it.scopedLive(
    "a value with a wrong tag or shape fails with ClientError Decode; the connection goes on",
    () =>
      Effect.gen(function* () {
        let n = 0
        const replies = [
          body(1, { value: { _tag: "Banned", room: "r" } }),
          body(1, { value: { _tag: "RoomFull", room: 42, seats: "x" } }),
          body(1, { value: Array.from({ length: 50_000 }, (_, i) => i) }),
          body(1, { value: { _tag: "RoomFull", room: "r", seats: 2 } })
        ]
        const client = yield* fakeServer(() => errorFrame(replies[n++ % replies.length]!))
        for (let i = 0; i < 3; i++) {
          const e = clientError(yield* Effect.flip(client.call(Join, { room: "r" })))
          expect(e.reason).toBe("Decode")
          expect(e.detail).toContain("error value")
          expect(e.detail.length).toBeLessThan(700)
        }
        expect(yield* Effect.flip(client.call(Join, { room: "r" }))).toEqual(
          new RoomFull({ room: "r", seats: 2 })
        )
      })
  )

  it.scopedLive("a value for a command that declares no error is ignored: CommandFailed", () =>
    Effect.gen(function* () {
      const client = yield* fakeServer(() =>
        errorFrame(body(2, { value: { _tag: "RoomFull", room: "r", seats: 1 } }))
      )
      const e = yield* Effect.flip(client.call(Leave, "x"))
      expect(e).toEqual(
        new Client.CommandFailed({
          command: 2,
          error: "HandlerFailed",
          detail: "join failed",
          tag: "RoomFull"
        })
      )
    })
  )

  it.scopedLive("an error frame above the frame limit closes the connection: ClientError, no throw", () =>
    Effect.gen(function* () {
      const huge = Buffer.alloc(Frame.defaultFrameOptions.maxLength + 1024, 0x20)
      const client = yield* fakeServer(() =>
        Frame.encodeBuffer(Frame.defaultFrameOptions, NetCommand.ERROR_COMMAND, huge)
      )
      const e = clientError(yield* Effect.flip(client.call(Join, { room: "r" })))
      expect(e.reason).toBe("Closed")
      expect(e.detail).toContain("bad frame from server")
      // just under the limit, a huge but valid body still fails only the call, cleanly
      const big = yield* fakeServer(() =>
        errorFrame(body(1, { message: "m".repeat(Frame.defaultFrameOptions.maxLength - 200) }))
      )
      const failed = yield* Effect.either(big.call(Join, { room: "r" }))
      expect(Either.isLeft(failed) && failed.left).toBeInstanceOf(Client.CommandFailed)
    })
  )
})
