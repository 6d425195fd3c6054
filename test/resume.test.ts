/**
 * Session resume over real sockets (TCP and WebSocket): a reconnecting client dropped mid-stream
 * gets its session back with every push it missed, once and in order; a call in flight at the
 * drop is answered once (its handler runs once), one the server had not read is re-sent; the
 * session keeps its uid, data and channels; onBind / onClose fire when the session starts and
 * ends, not on a drop; a client that missed more than the buffer resyncs (logs in again).
 */
import { describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  type Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Ref,
  Schedule,
  Schema,
  Scope,
  Stream
} from "effect"
import * as Channel from "../src/Channel.js"
import * as Client from "../src/Client.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetServer from "../src/NetServer.js"
import * as Session from "../src/Session.js"
import { freePort } from "./support/ports.js"
import { Kick, Login, sessionHandlers, Tell, Told, WhoAmI } from "./support/sessionCommands.js"

const Slow = NetCommand.json(20, { request: Schema.Number, response: Schema.String })
const Counter = NetCommand.json(21, { request: Schema.String, response: Schema.Number })
const Remember = NetCommand.text(22)
const Recall = NetCommand.text(23)
const JoinRoom = NetCommand.text(24, { error: Channel.ChannelRefused })
const RoomSay = NetCommand.json(25, {
  request: Schema.Struct({ room: Schema.String, text: Schema.String }),
  response: Schema.Number
})

const Note = Session.key<string>("note")

/** What the server's handlers and hooks saw. */
interface Seen {
  readonly runs: Ref.Ref<Record<string, number>>
  readonly hooks: Ref.Ref<ReadonlyArray<string>>
}

const ran = (seen: Seen, name: string) =>
  Ref.updateAndGet(seen.runs, (r) => ({ ...r, [name]: (r[name] ?? 0) + 1 }))

const app = (seen: Seen) =>
  Layer.mergeAll(
    sessionHandlers,
    NetServer.handle(Slow, (ms) =>
      Effect.as(Effect.zipRight(ran(seen, "slow"), Effect.sleep(ms)), "slow done")
    ),
    NetServer.handle(Counter, (name) => Effect.map(ran(seen, name), (r) => r[name] ?? 0)),
    NetServer.handle(Remember, (text) => Effect.as(Session.set(Note, text), "ok")),
    NetServer.handle(Recall, () =>
      Effect.map(
        Session.get(Note),
        Option.getOrElse(() => "nothing")
      )
    ),
    NetServer.handle(JoinRoom, (room) => Effect.as(Channel.join(room), "joined")),
    NetServer.handle(RoomSay, ({ room, text }) => Channel.push(room, Told, text)),
    NetServer.onBind((uid) => Ref.update(seen.hooks, (h) => [...h, `bind ${uid}`])),
    NetServer.onClose((uid) => Ref.update(seen.hooks, (h) => [...h, `close ${uid}`]))
  )

const makeSeen = Effect.all({
  runs: Ref.make<Record<string, number>>({}),
  hooks: Ref.make<ReadonlyArray<string>>([])
})

const serve = (seen: Seen, options: Partial<NetServer.Options> = {}) =>
  NetServer.serve(app(seen), {
    host: "127.0.0.1",
    port: 0,
    webSocket: { host: "127.0.0.1", port: 0 },
    resume: { window: "10 seconds" },
    ...options
  })

type Transport = "tcp" | "ws"

const connectOf = (transport: Transport) =>
  Effect.map(NetServer.NetServer, (s) =>
    transport === "tcp"
      ? Client.connect({ host: "127.0.0.1", port: s.addresses.tcp!.port, timeout: "5 seconds" })
      : Client.connectWebSocket({
          url: `ws://127.0.0.1:${s.addresses.webSocket!.port}/`,
          timeout: "5 seconds"
        })
  )

/** A reconnecting player `uid` that logs in on `onConnect`, counting its logins. */
const player = (transport: Transport, uid: string, pause: Duration.DurationInput = "20 millis") =>
  Effect.gen(function* () {
    const logins = yield* Ref.make(0)
    const connect = yield* connectOf(transport)
    const client = yield* Client.reconnecting(connect, {
      pause,
      onConnect: (c) =>
        Effect.zipRight(
          Ref.update(logins, (n) => n + 1),
          Effect.asVoid(c.call(Login, uid))
        )
    })
    expect(yield* client.call(WhoAmI, "")).toBe(uid)
    return { client, logins }
  })

/** Drop the player's connection from its side (as a network loss would) and wait for the next one. */
const drop = (client: Client.Reconnecting) =>
  Effect.gen(function* () {
    const first = yield* client.current
    yield* first.close
    yield* first.closed
    return yield* Effect.repeat(client.current, {
      until: (c) => c !== first,
      schedule: Schedule.spaced("10 millis")
    })
  })

const events = (client: Client.Reconnecting, n: number) =>
  Effect.map(Stream.runCollect(Stream.take(client.events, n)), (c) => Chunk.toArray(c).map((e) => e._tag))

const parked = Effect.flatMap(NetServer.NetServer, (s) => Effect.map(s.stats, (st) => st.parked))

describe("session resume", () => {
  for (const transport of ["tcp", "ws"] as const) {
    it.scopedLive(`${transport}: a client dropped mid-stream gets every push it missed, once, in order`, () =>
      Effect.gen(function* () {
        const seen = yield* makeSeen
        yield* Effect.gen(function* () {
          const { client: alice, logins } = yield* player(transport, "alice")
          const got = yield* alice.pushesOf(Told).pipe(Stream.take(100), Stream.runCollect, Effect.fork)
          const bob = yield* Effect.flatten(connectOf("tcp"))
          const tell = (from: number, to: number) =>
            Effect.forEach(
              Array.from({ length: to - from }, (_, i) => String(from + i)),
              (text) => bob.call(Tell, { to: "alice", text }),
              { discard: true }
            )
          // pushes in flight across each drop, and while the session is parked; twice
          for (const [from, to] of [
            [0, 40],
            [50, 90]
          ] as const) {
            const during = yield* Effect.fork(tell(from, to))
            yield* Effect.sleep("5 millis")
            yield* drop(alice)
            yield* Fiber.join(during)
            yield* tell(to, to + 10)
          }
          const texts = Chunk.toArray(
            yield* Effect.timeoutFail(Fiber.join(got), {
              duration: "10 seconds",
              onTimeout: () => "pushes missing"
            })
          )
          expect(texts).toEqual(Array.from({ length: 100 }, (_, i) => String(i)))
          expect(yield* Ref.get(logins)).toBe(1)
          expect(yield* events(alice, 5)).toEqual([
            "Connected",
            "Disconnected",
            "Resumed",
            "Disconnected",
            "Resumed"
          ])
          expect(yield* alice.call(WhoAmI, "")).toBe("alice")
          expect(yield* Ref.get(seen.hooks)).toEqual(["bind alice"])
        }).pipe(Effect.provide(serve(seen)))
      })
    )
  }

  it.scopedLive("a call in flight at the drop is answered once; one the server had not read is re-sent", () =>
    Effect.gen(function* () {
      const seen = yield* makeSeen
      yield* Effect.gen(function* () {
        const { client: alice } = yield* player("tcp", "alice")
        // one request at a time: the second waits unread in the server's buffer at the drop
        const slow = yield* Effect.fork(alice.call(Slow, 300))
        const counted = yield* Effect.fork(alice.call(Counter, "count"))
        yield* Effect.repeat(Ref.get(seen.runs), {
          until: (r) => r.slow === 1,
          schedule: Schedule.spaced("5 millis")
        })
        yield* drop(alice)
        expect(yield* Fiber.join(slow)).toBe("slow done")
        expect(yield* Fiber.join(counted)).toBe(1)
        expect(yield* Ref.get(seen.runs)).toEqual({ slow: 1, count: 1 })
        expect(yield* alice.call(Counter, "count")).toBe(2)
      }).pipe(Effect.provide(serve(seen, { maxInFlight: 1 })))
    })
  )

  it.scopedLive("a drop while onConnect still runs (logged in already): the next connection resumes", () =>
    Effect.gen(function* () {
      const seen = yield* makeSeen
      yield* Effect.gen(function* () {
        const logins = yield* Ref.make(0)
        const alice = yield* Client.reconnecting(yield* connectOf("tcp"), {
          pause: "20 millis",
          schedule: Schedule.spaced("20 millis"),
          onConnect: (c) =>
            Effect.gen(function* () {
              const n = yield* Ref.updateAndGet(logins, (k) => k + 1)
              yield* c.call(Login, "alice")
              // the first login's second step never gets its reply on this connection
              if (n === 1) {
                yield* Effect.fork(Effect.delay(c.close, "50 millis"))
                yield* c.call(Slow, 300)
              }
            })
        })
        const who = yield* Effect.timeoutFail(alice.call(WhoAmI, ""), {
          duration: "3 seconds",
          onTimeout: () => "not back within 3 s"
        })
        expect(who).toBe("alice")
        expect(yield* Ref.get(logins)).toBe(1)
        expect(yield* events(alice, 1)).toEqual(["Resumed"])
        expect(yield* Ref.get(seen.hooks)).toEqual(["bind alice"])
      }).pipe(Effect.provide(serve(seen)))
    })
  )

  it.scopedLive(
    "a resumed session keeps its uid, data and channels; onClose when it ends, not on a drop",
    () =>
      Effect.gen(function* () {
        const seen = yield* makeSeen
        yield* Effect.gen(function* () {
          const { client: alice, logins } = yield* player("ws", "alice")
          expect(yield* alice.call(Remember, "the cake")).toBe("ok")
          expect(yield* alice.call(JoinRoom, "room1")).toBe("joined")
          yield* drop(alice)
          expect(yield* alice.call(WhoAmI, "")).toBe("alice")
          expect(yield* alice.call(Recall, "")).toBe("the cake")
          const told = yield* alice.pushesOf(Told).pipe(Stream.take(1), Stream.runCollect, Effect.fork)
          const bob = yield* Effect.flatten(connectOf("tcp"))
          expect(yield* bob.call(RoomSay, { room: "room1", text: "hi room" })).toBe(1)
          expect(Chunk.toArray(yield* Fiber.join(told))).toEqual(["hi room"])
          expect(yield* Ref.get(logins)).toBe(1)
          expect(yield* Ref.get(seen.hooks)).toEqual(["bind alice"])
          // a kick ends the session: its token resumes nothing, the client logs in again
          const current = yield* alice.current
          expect(yield* bob.call(Kick, "alice")).toBe(true)
          yield* current.closed
          yield* Effect.repeat(alice.current, {
            until: (c) => c !== current,
            schedule: Schedule.spaced("10 millis")
          })
          expect(yield* alice.call(Recall, "")).toBe("nothing")
          expect(yield* Ref.get(logins)).toBe(2)
          expect(yield* Ref.get(seen.hooks)).toEqual(["bind alice", "close alice", "bind alice"])
          expect(yield* events(alice, 5)).toEqual([
            "Connected",
            "Disconnected",
            "Resumed",
            "Disconnected",
            "Connected"
          ])
        }).pipe(Effect.provide(serve(seen)))
      })
  )

  it.scopedLive("a client that missed more than the buffer resyncs: refused, logs in again", () =>
    Effect.gen(function* () {
      const seen = yield* makeSeen
      yield* Effect.gen(function* () {
        const { client: alice, logins } = yield* player("tcp", "alice", "600 millis")
        const bob = yield* Effect.flatten(connectOf("tcp"))
        const first = yield* alice.current
        yield* first.close
        yield* Effect.repeat(parked, { until: (n) => n === 1, schedule: Schedule.spaced("5 millis") })
        for (let i = 0; i < 10; i++)
          expect(yield* bob.call(Tell, { to: "alice", text: String(i) })).toBe(true)
        yield* Effect.repeat(alice.current, {
          until: (c) => c !== first,
          schedule: Schedule.spaced("10 millis")
        })
        expect(yield* Ref.get(logins)).toBe(2)
        expect(yield* events(alice, 3)).toEqual(["Connected", "Disconnected", "Connected"])
        expect(yield* Ref.get(seen.hooks)).toEqual(["bind alice", "close alice", "bind alice"])
        const stats = yield* Effect.flatMap(NetServer.NetServer, (s) => s.stats)
        expect(stats).toMatchObject({ parked: 0, sessionsParked: 1, resumes: 0, resumesRefused: 1 })
      }).pipe(Effect.provide(serve(seen, { resume: { window: "10 seconds", buffer: 4 } })))
    })
  )

  it.scopedLive(
    "a restarted server knows no token: refused, the client logs in again; a waiting call fails",
    () =>
      Effect.gen(function* () {
        const seen = yield* makeSeen
        const port = yield* Effect.promise(freePort)
        const first = yield* Scope.make()
        const options = { host: "127.0.0.1", port, resume: { window: "10 seconds" } } as const
        yield* Layer.buildWithScope(NetServer.serve(app(seen), options), first)
        const logins = yield* Ref.make(0)
        const alice = yield* Client.reconnecting(
          Client.connect({ host: "127.0.0.1", port, timeout: "5 seconds" }),
          {
            pause: "20 millis",
            schedule: Schedule.spaced("50 millis"),
            onConnect: (c) =>
              Effect.zipRight(
                Ref.update(logins, (n) => n + 1),
                Effect.asVoid(c.call(Login, "alice"))
              )
          }
        )
        expect(yield* alice.call(WhoAmI, "")).toBe("alice")
        const slow = yield* Effect.fork(alice.call(Slow, 5000))
        yield* Effect.repeat(Ref.get(seen.runs), {
          until: (r) => r.slow === 1,
          schedule: Schedule.spaced("5 millis")
        })
        yield* Scope.close(first, Exit.void)
        yield* Layer.buildWithScope(NetServer.serve(app(seen), options), yield* Effect.scope)
        expect(yield* Effect.flip(Fiber.join(slow))).toMatchObject({ _tag: "ClientError", reason: "Closed" })
        expect(yield* alice.call(WhoAmI, "")).toBe("alice")
        expect(yield* Ref.get(logins)).toBe(2)
        expect((yield* Ref.get(seen.runs)).slow).toBe(1)
      })
  )

  it.scopedLive("without resume on the server, a drop ends the session and the client logs in again", () =>
    Effect.gen(function* () {
      const seen = yield* makeSeen
      yield* Effect.gen(function* () {
        const { client: alice, logins } = yield* player("tcp", "alice")
        yield* drop(alice)
        expect(yield* alice.call(WhoAmI, "")).toBe("alice")
        expect(yield* Ref.get(logins)).toBe(2)
        expect(yield* Ref.get(seen.hooks)).toEqual(["bind alice", "close alice", "bind alice"])
      }).pipe(Effect.provide(serve(seen, { resume: { window: 0 } })))
    })
  )
})
