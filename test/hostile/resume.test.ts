/**
 * Resume tokens under attack, in raw frames over real sockets: a forged token, a token replayed
 * after its use, a token presented for another uid, an expired one (TestClock), a second attempt
 * on one connection, a `Resume` that is not the connection's first frame, a malformed body, a
 * client claiming frames the server never sent. Each gets a typed refusal (`ResumeRefused`) and
 * costs nothing else: the connection stays usable and the real session is untouched.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Layer, Ref, TestClock } from "effect"
import * as HotaruConfig from "../../src/HotaruConfig.js"
import * as NetCommand from "../../src/NetCommand.js"
import * as NetServer from "../../src/NetServer.js"
import * as Raw from "../support/rawFrames.js"
import { Login, sessionHandlers, WhoAmI } from "../support/sessionCommands.js"

const { RESUME_COMMAND, SESSION_COMMAND } = NetCommand

const app = (closed: Ref.Ref<ReadonlyArray<string>>) =>
  Layer.mergeAll(
    sessionHandlers,
    NetServer.onClose((uid) => Ref.update(closed, (c) => [...c, uid]))
  )

const serve = (closed: Ref.Ref<ReadonlyArray<string>>, window: Duration.DurationInput = "10 seconds") =>
  NetServer.serve(app(closed), { host: "127.0.0.1", port: 0, resume: { window } })

/** Real time, whatever clock the test runs under. */
const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

const until = <R>(check: Effect.Effect<boolean, never, R>): Effect.Effect<void, never, R> =>
  Effect.flatMap(check, (ok) => (ok ? Effect.void : Effect.zipRight(realSleep(5), until(check))))

const server = NetServer.NetServer
const port = Effect.map(server, (s) => s.addresses.tcp!.port)
const parked = (n: number) =>
  until(Effect.flatMap(server, (s) => Effect.map(s.stats, (st) => st.parked === n)))

/** A raw connection logged in as `uid`: its token, and how many frames it got (the login reply). */
const loggedIn = (uid: string) =>
  Effect.gen(function* () {
    const raw = yield* Raw.connect(yield* port)
    yield* raw.send(Login.id, uid)
    const session = (yield* raw.json(SESSION_COMMAND)) as { uid: string; token: string }
    expect(session.uid).toBe(uid)
    expect((yield* raw.next(Login.id)).text).toBe(`welcome ${uid}`)
    return { raw, token: session.token }
  })

/** A fresh raw connection's answer to a `Resume` frame. */
const resumeWith = (body: unknown, raw?: Raw.Raw) =>
  Effect.gen(function* () {
    const conn = raw ?? (yield* Raw.connect(yield* port))
    yield* conn.send(RESUME_COMMAND, typeof body === "string" ? body : (body as object))
    return { conn, answer: (yield* conn.json(RESUME_COMMAND)) as Record<string, unknown> }
  })

const refused = (reason: string) => ({ _tag: "ResumeRefused", reason })

/** The connection still works after a refusal: it logs in as someone else. */
const stillServes = (conn: Raw.Raw) =>
  Effect.gen(function* () {
    yield* conn.send(Login.id, "eve")
    expect((yield* conn.next(Login.id)).text).toBe("welcome eve")
  })

describe("hostile: resume tokens", () => {
  it.scopedLive("tokens are <node>.<random>, fresh per bind; a forged one is refused Unknown", () =>
    Effect.gen(function* () {
      const closed = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.gen(function* () {
        const a = yield* loggedIn("alice")
        const b = yield* loggedIn("bob")
        expect(a.token).toMatch(/^net\.[A-Za-z0-9_-]{22}$/)
        expect(b.token).not.toBe(a.token)
        const forged = `net.${"A".repeat(22)}`
        const { conn, answer } = yield* resumeWith({ token: forged, uid: "alice", received: 0 })
        expect(answer).toEqual(refused("Unknown"))
        // a token from another node's prefix, or alice's token with a flipped last character
        const flipped = a.token.slice(0, -1) + (a.token.endsWith("A") ? "B" : "A")
        expect((yield* resumeWith({ token: flipped, uid: "alice", received: 0 })).answer).toEqual(
          refused("Unknown")
        )
        // a well-formed token of another node, on a node with no master to ask: Unknown
        const foreign = yield* resumeWith({ token: `front9.${"A".repeat(22)}`, uid: "alice", received: 0 })
        expect(foreign.answer).toEqual(refused("Unknown"))
        yield* stillServes(conn)
        // alice's real session was not touched
        yield* a.raw.send(WhoAmI.id, "")
        expect((yield* a.raw.next(WhoAmI.id)).text).toBe("alice")
      }).pipe(Effect.provide(serve(closed)))
    })
  )

  it.scopedLive("a token resumes only its uid; it is single-use; one attempt per connection", () =>
    Effect.gen(function* () {
      const closed = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.gen(function* () {
        const m = yield* loggedIn("mallory")
        yield* m.raw.destroy
        yield* parked(1)
        // mallory's token presented as alice's
        const other = yield* resumeWith({ token: m.token, uid: "alice", received: 1 })
        expect(other.answer).toEqual(refused("Unknown"))
        // a second attempt on the same connection, even a right one
        const again = yield* resumeWith({ token: m.token, uid: "mallory", received: 1 }, other.conn)
        expect(again.answer).toEqual(refused("Invalid"))
        yield* stillServes(other.conn)
        // the right uid, on a fresh connection: resumed, with a new token
        const ok = yield* resumeWith({ token: m.token, uid: "mallory", received: 1 })
        expect(ok.answer).toMatchObject({ _tag: "ResumeOk", requests: 1 })
        const next = ok.answer.token as string
        expect(next).not.toBe(m.token)
        yield* ok.conn.send(WhoAmI.id, "")
        expect((yield* ok.conn.next(WhoAmI.id)).text).toBe("mallory")
        // the used token again: refused, and the live session is not taken over
        expect((yield* resumeWith({ token: m.token, uid: "mallory", received: 1 })).answer).toEqual(
          refused("Used")
        )
        yield* ok.conn.send(WhoAmI.id, "")
        expect((yield* ok.conn.next(WhoAmI.id)).text).toBe("mallory")
        expect(yield* Ref.get(closed)).toEqual([])
      }).pipe(Effect.provide(serve(closed)))
    })
  )

  it.scopedLive("a resume of a session whose old connection is still open (half-open) closes that one", () =>
    Effect.gen(function* () {
      const closed = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.gen(function* () {
        const a = yield* loggedIn("alice")
        const ok = yield* resumeWith({ token: a.token, uid: "alice", received: 1 })
        expect(ok.answer).toMatchObject({ _tag: "ResumeOk", requests: 1 })
        yield* a.raw.closed
        yield* ok.conn.send(WhoAmI.id, "")
        expect((yield* ok.conn.next(WhoAmI.id)).text).toBe("alice")
        const stats = yield* Effect.flatMap(server, (s) => s.stats)
        expect(stats).toMatchObject({ connections: 1, parked: 0, resumes: 1 })
        expect(yield* Ref.get(closed)).toEqual([])
      }).pipe(Effect.provide(serve(closed)))
    })
  )

  it.scopedLive("malformed, late, or lying Resume frames are refused; claiming unsent frames resyncs", () =>
    Effect.gen(function* () {
      const closed = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.gen(function* () {
        expect((yield* resumeWith("{not json")).answer).toEqual(refused("Invalid"))
        expect((yield* resumeWith({ token: 1, uid: "x", received: -1 })).answer).toEqual(refused("Invalid"))
        expect((yield* resumeWith("x".repeat(5000))).answer).toEqual(refused("Invalid"))
        // not the connection's first frame
        const a = yield* loggedIn("alice")
        const late = yield* resumeWith({ token: a.token, uid: "alice", received: 0 }, a.raw)
        expect(late.answer).toEqual(refused("Invalid"))
        yield* a.raw.destroy
        yield* parked(1)
        // alice's token, claiming frames the server never sent: the session cannot be caught up
        const lying = yield* resumeWith({ token: a.token, uid: "alice", received: 1000 })
        expect(lying.answer).toEqual(refused("Resync"))
        yield* until(Effect.map(Ref.get(closed), (c) => c.length === 1))
        expect(yield* Ref.get(closed)).toEqual(["alice"])
        yield* stillServes(lying.conn)
      }).pipe(Effect.provide(serve(closed)))
    })
  )

  it.scoped("a token is refused Expired once its window is over (TestClock), and the session closed", () =>
    Effect.gen(function* () {
      const closed = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.gen(function* () {
        const a = yield* loggedIn("alice")
        yield* a.raw.destroy
        yield* parked(1)
        yield* TestClock.adjust("9 seconds")
        expect(yield* Ref.get(closed)).toEqual([])
        yield* TestClock.adjust("2 seconds")
        yield* parked(0)
        yield* until(Effect.map(Ref.get(closed), (c) => c.length === 1))
        expect(yield* Ref.get(closed)).toEqual(["alice"])
        const { answer } = yield* resumeWith({ token: a.token, uid: "alice", received: 1 })
        expect(answer).toEqual(refused("Expired"))
      }).pipe(Effect.provide(serve(closed)))
    })
  )

  it.scopedLive("a server without resume refuses every token (Unknown)", () =>
    Effect.gen(function* () {
      const closed = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.gen(function* () {
        const raw = yield* Raw.connect(yield* port)
        yield* raw.send(Login.id, "alice")
        expect((yield* raw.next(Login.id)).text).toBe("welcome alice")
        const { answer } = yield* resumeWith({ token: "net.x", uid: "alice", received: 0 })
        expect(answer).toEqual(refused("Unknown"))
      }).pipe(Effect.provide(serve(closed, "0 seconds")))
    })
  )

  it.scopedLive("parked sessions count against maxConnections: logins that drop cannot pile up past it", () =>
    Effect.gen(function* () {
      const closed = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.gen(function* () {
        for (const uid of ["p1", "p2", "p3"]) {
          const { raw } = yield* loggedIn(uid)
          yield* raw.destroy
        }
        yield* parked(3)
        // three parked, none open: the cap is reached, a fourth connection is closed at once
        const fourth = yield* Raw.connect(yield* port)
        yield* fourth.closed.pipe(Effect.timeout("5 seconds"))
        const stats = yield* Effect.flatMap(server, (s) => s.stats)
        expect(stats.refusedMaxConnections).toBeGreaterThan(0)
      }).pipe(
        Effect.provide(
          NetServer.serve(app(closed), {
            host: "127.0.0.1",
            port: 0,
            resume: { window: "30 seconds" },
            limits: { maxConnections: 3, perIpExempt: [] }
          })
        )
      )
    })
  )

  it("the config's resume block: window in seconds, buffer bounds checked", () => {
    const server = (resume: unknown) =>
      HotaruConfig.fromObject({ servers: { net: { netport: 10001, resume } } }, { dir: "." })
    const ok = Either.getOrThrow(server({ window: 30, buffer: 64 })).config.servers.net!
    const options = NetServer.configOptions(ok)
    expect(Duration.toMillis(options.resume!.window)).toBe(30_000)
    expect(options.resume?.buffer).toBe(64)
    const bad = server({ window: 0, bufferBytes: 10 })
    expect(Either.isLeft(bad) && bad.left.issues).toEqual([
      "servers.net.resume.window: expected a number of seconds 1-86400, got 0",
      "servers.net.resume.bufferBytes: expected a byte count 1024..2^31-1, got 10"
    ])
  })
})
