/**
 * A front restarted with no other front to move its sessions to: its drain hands them to the
 * master's store of held sessions (`HeldSessions`, what `PlayersService.HoldSessions` fills), and
 * the restarted front (a new edge of the same node name, over real sockets) resumes them through
 * the master: the missed frames and the pushes sent while it was down are replayed once, in
 * order; the token is single-use and bound to the uid. The store's own rules (bounds, expiry,
 * only a front's own tokens) are checked on their own, under `TestClock`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either, Layer, Option, Ref, TestClock } from "effect"
import * as Channel from "../src/Channel.js"
import { batches } from "../src/internal/control/handoverLink.js"
import * as HeldSessions from "../src/internal/control/heldSessions.js"
import { Handover, type HeldSession } from "../src/internal/edge/handoverWire.js"
import { ResumeRefused } from "../src/internal/edge/resumeWire.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetServer from "../src/NetServer.js"
import * as Raw from "./support/rawFrames.js"
import { Login, sessionHandlers, Tell, Told } from "./support/sessionCommands.js"

const { RESUME_COMMAND, SESSION_COMMAND } = NetCommand
const Join = NetCommand.text(24, { error: Channel.ChannelRefused })

const app = (hooks: Ref.Ref<ReadonlyArray<string>>) =>
  Layer.mergeAll(
    sessionHandlers,
    NetServer.handle(Join, (room) => Effect.as(Channel.join(room), "joined")),
    NetServer.onBind((uid) => Ref.update(hooks, (h) => [...h, `bind ${uid}`])),
    NetServer.onClose((uid) => Ref.update(hooks, (h) => [...h, `close ${uid}`]))
  )

/** The master's side, in one process: the store, and a take as `PlayersService.TakeSession` does it. */
const masterOf = (store: HeldSessions.HeldSessions) =>
  Layer.succeed(Handover, {
    take: (_node, request) =>
      Option.match(store.take(request), {
        onNone: () => Effect.fail(new ResumeRefused({ reason: "Unknown" })),
        onSome: Either.match({ onLeft: Effect.fail, onRight: Effect.succeed })
      }),
    hold: (sessions) => Effect.sync(() => store.hold("front", sessions)),
    alone: true
  })

const edge = (hooks: Ref.Ref<ReadonlyArray<string>>, store: HeldSessions.HeldSessions) =>
  Effect.map(
    Layer.build(
      NetServer.serve(app(hooks), {
        host: "127.0.0.1",
        port: 0,
        node: "front",
        resume: { window: "30 seconds", drain: "5 seconds" }
      }).pipe(Layer.provide(masterOf(store)))
    ),
    (ctx) => Context.get(ctx, NetServer.NetServer)
  )

const push = (text: string) => new TextEncoder().encode(text)

describe("sessions held by the master across a front's restart", () => {
  it.scopedLive("the restarted front resumes them with what they missed, once, in order", () =>
    Effect.gen(function* () {
      const hooks = yield* Ref.make<ReadonlyArray<string>>([])
      const clock = yield* Effect.clock
      const store = HeldSessions.make(clock)
      const before = yield* Effect.scoped(
        Effect.gen(function* () {
          const a = yield* edge(hooks, store)
          const raw = yield* Raw.connect(a.addresses.tcp!.port)
          yield* raw.send(Login.id, "zoe")
          const { token } = (yield* raw.json(SESSION_COMMAND)) as { token: string }
          expect((yield* raw.next(Login.id)).text).toBe("welcome zoe")
          yield* raw.send(Join.id, "room")
          expect((yield* raw.next(Join.id)).text).toBe("joined")
          yield* a.push(Told, "one", [(yield* a.connectionOf("zoe")).pipe(Option.getOrThrow)])
          expect((yield* raw.next(Told.id)).text).toBe("one")
          // the stop: alone, the drain does not wait for takes
          const started = Date.now()
          yield* a.drain
          expect(Date.now() - started).toBeLessThan(2_000)
          yield* raw.closed
          expect((yield* a.stats).parked).toBe(0)
          return token
        })
      )
      const token = before
      expect(store.size().sessions).toBe(1)
      expect(yield* Ref.get(hooks)).toEqual(["bind zoe", "close zoe"])
      // pushes while the front is down are kept by the master (what its `Push` does)
      expect(store.push("zoe", Told.id, push("two"))).toBe(true)
      expect(store.push("nobody", Told.id, push("lost"))).toBe(false)

      const b = yield* edge(hooks, store)
      // a forged token of this node: asked of the master, refused
      const forged = yield* Raw.connect(b.addresses.tcp!.port)
      yield* forged.send(RESUME_COMMAND, { token: `front.${"A".repeat(22)}`, uid: "zoe", received: 0 })
      expect(yield* forged.json(RESUME_COMMAND)).toEqual({ _tag: "ResumeRefused", reason: "Unknown" })
      // the right token with another uid: refused, and the session is still held for zoe
      const wrongUid = yield* Raw.connect(b.addresses.tcp!.port)
      yield* wrongUid.send(RESUME_COMMAND, { token, uid: "max", received: 0 })
      expect(yield* wrongUid.json(RESUME_COMMAND)).toEqual({ _tag: "ResumeRefused", reason: "Unknown" })

      // zoe saw the login reply, the join reply and "one" (3 frames); she claims 2: "one" again
      const back = yield* Raw.connect(b.addresses.tcp!.port)
      yield* back.send(RESUME_COMMAND, { token, uid: "zoe", received: 2 })
      const answer = (yield* back.json(RESUME_COMMAND)) as Record<string, unknown>
      expect(answer).toMatchObject({ _tag: "ResumeOk", requests: 2 })
      expect(answer.token).toMatch(/^front\./)
      expect((yield* back.next(Told.id)).text).toBe("one")
      expect((yield* back.next(Told.id)).text).toBe("two")
      // bound here again, in her channel, the store empty
      expect(Option.isSome(yield* b.connectionOf("zoe"))).toBe(true)
      expect((yield* b.members("room")).length).toBe(1)
      expect(store.size()).toEqual({ sessions: 0, bytes: 0 })
      expect(yield* Ref.get(hooks)).toEqual(["bind zoe", "close zoe", "bind zoe"])
      // single-use: the old token again is refused
      const again = yield* Raw.connect(b.addresses.tcp!.port)
      yield* again.send(RESUME_COMMAND, { token, uid: "zoe", received: 3 })
      expect(yield* again.json(RESUME_COMMAND)).toMatchObject({ _tag: "ResumeRefused" })
      // nothing was replayed twice: the next push she gets is a new one
      yield* back.send(Tell.id, { to: "zoe", text: "three" })
      expect((yield* back.next(Told.id)).text).toBe("three")
    })
  )
})

const held = (over: Partial<HeldSession> = {}): HeldSession => ({
  token: `front.${"B".repeat(22)}`,
  uid: "zoe",
  channels: ["room"],
  requests: 4,
  first: 10,
  frames: [
    { command: 4, body: push("a") },
    { command: 4, body: push("b") }
  ],
  ttl: 5_000,
  maxFrames: 3,
  maxBytes: 1024,
  ...over
})

const takeOf = (store: HeldSessions.HeldSessions, received: number, token = held().token, uid = "zoe") =>
  store.take({ token, uid, received })

/** What a take came to: none held, the refusal's reason, or how many frames were handed over. */
const outcome = (taken: ReturnType<HeldSessions.HeldSessions["take"]>) =>
  Option.match(taken, {
    onNone: () => "none",
    onSome: Either.match({ onLeft: (e) => e.reason, onRight: (h) => h.frames.length })
  })

describe("HeldSessions", () => {
  it.effect("keeps a front's own tokens only, replays from where the client is, once", () =>
    Effect.gen(function* () {
      const store = HeldSessions.make(yield* Effect.clock)
      // another node's token, an expired window, a ring past its own bounds: not kept
      expect(store.hold("other", [held()])).toBe(0)
      expect(store.hold("front", [held({ ttl: 0 })])).toBe(0)
      expect(store.hold("front", [held({ maxFrames: 1 })])).toBe(0)
      expect(store.hold("front", [held()])).toBe(1)
      expect(store.size()).toEqual({ sessions: 1, bytes: 2 })
      // a client ahead of what was sent, or behind the ring: Resync (and it is gone)
      expect(outcome(takeOf(store, 13))).toBe("Resync")
      expect(outcome(takeOf(store, 11))).toBe("none")
      expect(store.hold("front", [held()])).toBe(1)
      expect(outcome(takeOf(store, 9))).toBe("Resync")
      expect(store.hold("front", [held()])).toBe(1)
      const taken = takeOf(store, 11)
      expect(
        Option.map(
          taken,
          Either.map((h) => [h.uid, h.requests, h.channels, h.frames.length])
        )
      ).toEqual(Option.some(Either.right(["zoe", 4, ["room"], 1])))
      expect(outcome(takeOf(store, 11))).toBe("none")
    })
  )

  it.effect("a push past the ring's bounds drops the oldest: a client behind it resyncs", () =>
    Effect.gen(function* () {
      const store = HeldSessions.make(yield* Effect.clock)
      expect(store.hold("front", [held()])).toBe(1)
      expect(store.push("zoe", 4, push("c"))).toBe(true)
      expect(store.push("zoe", 4, push("d"))).toBe(true)
      // frames 11..13 are held now (3 at most): 10 is gone
      expect(store.size().bytes).toBe(3)
      expect(outcome(takeOf(store, 10))).toBe("Resync")
      expect(store.hold("front", [held()])).toBe(1)
      store.push("zoe", 4, push("c"))
      const text = Option.map(
        takeOf(store, 10),
        Either.map((h) => h.frames.map((f) => new TextDecoder().decode(f.body)).join(""))
      )
      expect(text).toEqual(Option.some(Either.right("abc")))
    })
  )

  it.effect("expires with its window (a sweep ends it); a login elsewhere drops it", () =>
    Effect.gen(function* () {
      const store = HeldSessions.make(yield* Effect.clock)
      expect(store.hold("front", [held()])).toBe(1)
      yield* TestClock.adjust("4999 millis")
      store.sweep()
      expect(store.size().sessions).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(store.push("zoe", 4, push("late"))).toBe(false)
      expect(outcome(takeOf(store, 10))).toBe("none")
      expect(store.hold("front", [held()])).toBe(1)
      yield* TestClock.adjust("6 seconds")
      store.sweep()
      expect(store.size()).toEqual({ sessions: 0, bytes: 0 })
      expect(store.hold("front", [held()])).toBe(1)
      expect(store.drop("zoe")).toBe(true)
      expect(outcome(takeOf(store, 10))).toBe("none")
    })
  )

  it.effect("held members stay in their channels: a channel push is kept for each, members list them", () =>
    Effect.gen(function* () {
      const store = HeldSessions.make(yield* Effect.clock)
      const yuki = held({ token: `front.${"Y".repeat(22)}`, uid: "yuki", channels: ["room", "guild"] })
      expect(store.hold("front", [held(), yuki])).toBe(2)
      expect(store.members("room", 10)).toEqual({ count: 2, uids: ["zoe", "yuki"] })
      expect(store.members("room", 1)).toEqual({ count: 2, uids: ["zoe"] })
      expect(store.members("guild", 10)).toEqual({ count: 1, uids: ["yuki"] })
      expect(store.members("nowhere", 10)).toEqual({ count: 0, uids: [] })
      expect(store.pushChannel("room", 4, push("c"))).toBe(2)
      expect(store.pushChannel("guild", 4, push("g"))).toBe(1)
      expect(store.pushChannel("nowhere", 4, push("x"))).toBe(0)
      // zoe resumes: both frames she missed, and she is no member held here any more
      const text = Option.map(
        takeOf(store, 10),
        Either.map((h) => h.frames.map((f) => new TextDecoder().decode(f.body)).join(""))
      )
      expect(text).toEqual(Option.some(Either.right("abc")))
      expect(store.members("room", 10)).toEqual({ count: 1, uids: ["yuki"] })
      // expired or dropped: neither kept nor listed
      store.drop("yuki")
      expect(store.pushChannel("guild", 4, push("late"))).toBe(0)
      expect(store.members("guild", 10).count).toBe(0)
      expect(store.hold("front", [yuki])).toBe(1)
      yield* TestClock.adjust("5 seconds")
      expect(store.pushChannel("room", 4, push("late"))).toBe(0)
      expect(store.size()).toEqual({ sessions: 0, bytes: 0 })
    })
  )

  it.effect("bounded in bytes over every session; a front's batches stay under the link's frame cap", () =>
    Effect.gen(function* () {
      const store = HeldSessions.make(yield* Effect.clock)
      const big = (i: number): HeldSession =>
        held({
          token: `front.${String(i).padStart(22, "C")}`,
          uid: `p${i}`,
          frames: [{ command: 4, body: new Uint8Array(1024 * 1024) }],
          maxBytes: 2 * 1024 * 1024
        })
      const many = Array.from({ length: 70 }, (_, i) => big(i))
      const kept = batches(many).reduce((n, batch) => n + store.hold("front", batch), 0)
      expect(kept).toBe(HeldSessions.MAX_BYTES / (1024 * 1024))
      expect(store.size().bytes).toBe(HeldSessions.MAX_BYTES)
      expect(store.push("p0", 4, push("x"))).toBe(false)
      for (const batch of batches(many)) {
        expect(batch.reduce((n, s) => n + s.frames[0]!.body.length, 0)).toBeLessThanOrEqual(2 * 1024 * 1024)
      }
    })
  )
})
