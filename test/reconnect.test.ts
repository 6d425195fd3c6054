/**
 * `Client.reconnecting` over real sockets: a kicked connection comes back and logs in again
 * (`onConnect`), pushes continue over the new connection, a restarted server on the same port is
 * found again, and a schedule that gives up says so (`GaveUp`, then calls fail `Closed`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Exit, Fiber, Layer, Option, Schedule, Scope, Stream } from "effect"
import * as Client from "../src/Client.js"
import * as NetServer from "../src/NetServer.js"
import { freePort } from "./support/ports.js"
import { Kick, Login, sessionHandlers, Tell, Told, WhoAmI } from "./support/sessionCommands.js"

const app = sessionHandlers

/** A server on `port` until `scope` closes. */
const serveOn = (port: number, scope: Scope.Scope) =>
  Layer.buildWithScope(NetServer.serve(app, { host: "127.0.0.1", port }), scope).pipe(
    Effect.map(Context.get(NetServer.NetServer))
  )

const connectTo = (port: number) => Client.connect({ host: "127.0.0.1", port, timeout: "5 seconds" })

/** The first `n` events (the stream replays the recent ones). */
const firstEvents = (client: Client.Reconnecting, n: number) =>
  Effect.map(Stream.runCollect(Stream.take(client.events, n)), Chunk.toArray)

/** The current connection once it is another than `before`. */
const nextConnection = (client: Client.Reconnecting, before: Client.Client) =>
  Effect.repeat(client.current, { until: (c) => c !== before, schedule: Schedule.spaced("10 millis") })

describe("Client.reconnecting", () => {
  it.scopedLive("a kicked connection comes back, logs in again, and pushes continue over it", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      yield* serveOn(port, yield* Effect.scope)
      const alice = yield* Client.reconnecting(connectTo(port), {
        pause: "20 millis",
        onConnect: (c) => Effect.asVoid(c.call(Login, "alice"))
      })
      expect(yield* alice.call(WhoAmI, "")).toBe("alice")
      const told = yield* alice.pushesOf(Told).pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      const bob = yield* connectTo(port)
      expect(yield* bob.call(Tell, { to: "alice", text: "one" })).toBe(true)

      const first = yield* alice.current
      expect(yield* bob.call(Kick, "alice")).toBe(true)
      yield* first.closed
      yield* nextConnection(alice, first)
      expect(yield* firstEvents(alice, 3)).toEqual([
        { _tag: "Connected", connection: 1 },
        { _tag: "Disconnected", connection: 1 },
        { _tag: "Connected", connection: 2 }
      ])
      // logged in again by onConnect, on the new connection
      expect(yield* alice.call(WhoAmI, "")).toBe("alice")
      expect(yield* bob.call(Tell, { to: "alice", text: "two" })).toBe(true)
      expect(Chunk.toArray(yield* Fiber.join(told))).toEqual(["one", "two"])
    })
  )

  it.scopedLive("a server restarted on the same port is found again; calls wait for it", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const first = yield* Scope.make()
      yield* serveOn(port, first)
      const client = yield* Client.reconnecting(connectTo(port), {
        pause: "20 millis",
        schedule: Schedule.spaced("50 millis"),
        onConnect: (c) => Effect.asVoid(c.call(Login, "carol"))
      })
      expect(yield* client.call(WhoAmI, "")).toBe("carol")
      const connection = yield* client.current
      yield* Scope.close(first, Exit.void)
      yield* connection.closed
      // while the server is down, a call waits for the next connection
      const waiting = yield* Effect.fork(client.call(WhoAmI, ""))
      yield* Effect.sleep("300 millis")
      expect(yield* Fiber.poll(waiting)).toEqual(Option.none())
      yield* serveOn(port, yield* Effect.scope)
      expect(yield* Fiber.join(waiting)).toBe("carol")
    })
  )

  it.scopedLive("a schedule that gives up: GaveUp, then calls fail Closed", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const client = yield* Client.reconnecting(connectTo(port), {
        schedule: Schedule.addDelay(Schedule.recurs(2), () => "20 millis")
      })
      const [event] = yield* firstEvents(client, 1)
      expect(event?._tag).toBe("GaveUp")
      const error = yield* Effect.flip(client.call(WhoAmI, ""))
      expect(error).toMatchObject({ _tag: "ClientError", reason: "Closed" })
    })
  )

  it.scopedLive("a call waits at most connectTimeout for a connection", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const client = yield* Client.reconnecting(connectTo(port), {
        schedule: Schedule.spaced("50 millis"),
        connectTimeout: "200 millis"
      })
      const error = yield* Effect.flip(client.call(WhoAmI, ""))
      expect(error).toMatchObject({ _tag: "ClientError", reason: "Timeout" })
    })
  )
})
