/**
 * Sessions over real sockets: a connection bound to a player id, push and kick by uid, duplicate
 * logins under both policies, session data, and the binding's end with its connection.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, Stream } from "effect"
import * as Client from "../src/Client.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetServer from "../src/NetServer.js"
import * as Session from "../src/Session.js"
import { Kick, Login, sessionHandlers, Tell, Told, WhoAmI } from "./support/sessionCommands.js"

const Remember = NetCommand.text(6)
const Recall = NetCommand.text(7)

const Note = Session.key<string>("note")

const app = (gone: Deferred.Deferred<string>) =>
  Layer.mergeAll(
    sessionHandlers,
    NetServer.handle(Remember, (text) => Effect.as(Session.set(Note, text), "ok")),
    NetServer.handle(Recall, () =>
      Effect.map(
        Session.get(Note),
        Option.getOrElse(() => "nothing")
      )
    ),
    NetServer.onDisconnect(() =>
      Effect.flatMap(Session.uid, (uid) =>
        Option.isSome(uid) ? Deferred.succeed(gone, uid.value) : Effect.void
      )
    )
  )

const serve = (gone: Deferred.Deferred<string>, duplicateLogin?: Session.DuplicatePolicy) =>
  NetServer.serve(app(gone), {
    host: "127.0.0.1",
    port: 0,
    webSocket: { host: "127.0.0.1", port: 0 },
    ...(duplicateLogin === undefined ? {} : { duplicateLogin })
  })

const tcp = Effect.flatMap(NetServer.NetServer, (s) =>
  Client.connect({ host: "127.0.0.1", port: s.addresses.tcp!.port, timeout: "5 seconds" })
)
const browser = Effect.flatMap(NetServer.NetServer, (s) =>
  Client.connectWebSocket({ url: `ws://127.0.0.1:${s.addresses.webSocket!.port}/`, timeout: "5 seconds" })
)

describe("Session", () => {
  it.scopedLive("bind, uid, push by uid across transports, session data, kick by uid", () =>
    Effect.gen(function* () {
      const gone = yield* Deferred.make<string>()
      yield* Effect.gen(function* () {
        const alice = yield* tcp
        const bob = yield* browser
        expect(yield* alice.call(WhoAmI, "")).toBe("nobody")
        expect(yield* alice.call(Login, "alice")).toBe("welcome alice")
        expect(yield* bob.call(Login, "bob")).toBe("welcome bob")
        expect(yield* alice.call(WhoAmI, "")).toBe("alice")
        const told = yield* bob.pushesOf(Told).pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("30 millis")
        expect(yield* alice.call(Tell, { to: "bob", text: "hi bob" })).toBe(true)
        expect([...(yield* Fiber.join(told))]).toEqual(["hi bob"])
        expect(yield* alice.call(Tell, { to: "carol", text: "anyone?" })).toBe(false)
        expect(yield* alice.call(Recall, "")).toBe("nothing")
        expect(yield* alice.call(Remember, "the cake")).toBe("ok")
        expect(yield* alice.call(Recall, "")).toBe("the cake")
        expect(yield* bob.call(Recall, "")).toBe("nothing")
        // binding again to the same uid is fine; to another is refused, typed
        expect(yield* alice.call(Login, "alice")).toBe("welcome alice")
        const other = yield* Effect.flip(alice.call(Login, "mallory"))
        expect(other).toMatchObject({ _tag: "SessionRefused", reason: "AlreadyBound", uid: "mallory" })
        expect(yield* alice.call(Kick, "bob")).toBe(true)
        yield* bob.closed
        // the disconnect hook still reads the uid
        expect(yield* Deferred.await(gone)).toBe("bob")
        expect(yield* alice.call(Kick, "bob")).toBe(false)
      }).pipe(Effect.provide(serve(gone)))
    })
  )

  it.scopedLive('duplicateLogin "kick" (default): the newest connection wins, the old one is closed', () =>
    Effect.gen(function* () {
      const gone = yield* Deferred.make<string>()
      yield* Effect.gen(function* () {
        const phone = yield* tcp
        const laptop = yield* browser
        yield* phone.call(Login, "alice")
        expect(yield* laptop.call(Login, "alice")).toBe("welcome alice")
        yield* phone.closed
        expect(yield* Deferred.await(gone)).toBe("alice")
        expect(yield* laptop.call(WhoAmI, "")).toBe("alice")
        // the old connection's close did not unbind the new one
        const watcher = yield* tcp
        const told = yield* laptop.pushesOf(Told).pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("30 millis")
        expect(yield* watcher.call(Tell, { to: "alice", text: "still you?" })).toBe(true)
        expect([...(yield* Fiber.join(told))]).toEqual(["still you?"])
      }).pipe(Effect.provide(serve(gone)))
    })
  )

  it.scopedLive(
    'duplicateLogin "refuse": the second login fails typed; once the first leaves, it succeeds',
    () =>
      Effect.gen(function* () {
        const gone = yield* Deferred.make<string>()
        yield* Effect.gen(function* () {
          const first = yield* tcp
          const second = yield* browser
          yield* first.call(Login, "alice")
          const refused = yield* Effect.flip(second.call(Login, "alice"))
          expect(refused).toMatchObject({ _tag: "SessionRefused", reason: "InUse", uid: "alice" })
          expect(yield* first.call(WhoAmI, "")).toBe("alice")
          expect(yield* second.call(WhoAmI, "")).toBe("nobody")
          yield* first.close
          expect(yield* Deferred.await(gone)).toBe("alice")
          expect(yield* second.call(Login, "alice")).toBe("welcome alice")
        }).pipe(Effect.provide(serve(gone, "refuse")))
      })
  )
})
