/**
 * Session resume across front nodes, in real processes (`hotaru start`: a master and two fronts
 * with resume on that share no link but the master). A player whose network to front1 drops
 * comes back on front2 with its token: `ResumeOk`, what front1 was sent for it meanwhile replayed
 * in order and once, pushes by uid reach it on front2 now, the old token is `Used` on either
 * front. A reconnecting client given both fronts resumes on the other one. Hostile tokens (no
 * such node, the master, a forged secret, the wrong uid, oversized, malformed) are refused typed
 * and the connection still serves; a token of a front that was SIGKILLed is refused typed and the
 * player logs in again.
 */
import { Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import * as NetCommand from "../src/NetCommand.js"
import { Login, Tell, Told } from "./fixtures/playersApp.js"
import { connect, frontsLogIn, reconnectingPlayer, withFronts } from "./support/playersFronts.js"
import { proxy } from "./support/proxy.js"
import * as Raw from "./support/rawFrames.js"

const { RESUME_COMMAND, SESSION_COMMAND } = NetCommand

/** A raw connection to `port` logged in as `uid`: it and its resume token. */
const loggedIn = (port: number, uid: string) =>
  Effect.gen(function* () {
    const raw = yield* Raw.connect(port)
    yield* raw.send(Login.id, uid)
    const { token } = (yield* raw.json(SESSION_COMMAND)) as { token: string }
    expect((yield* raw.next(Login.id)).text).toBe(`welcome ${uid}`)
    return { raw, token }
  })

/** A fresh raw connection to `port`'s answer to a `Resume` frame. */
const resumeWith = (port: number, body: unknown) =>
  Effect.gen(function* () {
    const conn = yield* Raw.connect(port)
    yield* conn.send(RESUME_COMMAND, typeof body === "string" ? body : (body as object))
    const answer = (yield* conn.json(RESUME_COMMAND).pipe(Effect.timeout("15 seconds"))) as Record<
      string,
      unknown
    >
    return { conn, answer }
  })

/** The connection still serves after a refusal: it logs in. */
const stillServes = (conn: Raw.Raw, uid: string) =>
  Effect.gen(function* () {
    yield* conn.send(Login.id, uid)
    expect((yield* conn.next(Login.id)).text).toBe(`welcome ${uid}`)
  })

const refused = (reason: string) => ({ _tag: "ResumeRefused", reason })

/** erin drops off front1, front2 takes her session back with what she missed. */
const moveToOtherFront = (front1: number, front2: number) =>
  Effect.gen(function* () {
    const net = yield* proxy(front1)
    const erin = yield* loggedIn(net.port, "erin")
    expect(erin.token).toMatch(/^front1\.[A-Za-z0-9_-]{22}$/)
    const frank = yield* connect(front2)
    expect(yield* frank.call(Login, "frank")).toBe("welcome frank")
    expect(yield* frank.call(Tell, { to: "erin", text: "zero" })).toEqual({ node: "front1" })
    expect((yield* erin.raw.next(Told.id)).text).toBe("zero")
    expect(net.drop()).toBeGreaterThan(0)
    for (const text of ["one", "two", "three"]) {
      expect(yield* frank.call(Tell, { to: "erin", text })).toEqual({ node: "front1" })
    }
    // she got two frames (the login's reply, "zero"): front1 sent five
    const back = yield* resumeWith(front2, { token: erin.token, uid: "erin", received: 2 })
    expect(back.answer).toMatchObject({ _tag: "ResumeOk", requests: 1 })
    expect(back.answer.token).toMatch(/^front2\.[A-Za-z0-9_-]{22}$/)
    const replayed = []
    for (let i = 0; i < 3; i++) replayed.push((yield* back.conn.next(Told.id)).text)
    expect(replayed).toEqual(["one", "two", "three"])
    // she is on front2 now; the next push is the next frame (nothing replayed twice)
    expect(yield* frank.call(Tell, { to: "erin", text: "four" })).toEqual({ node: "front2" })
    expect((yield* back.conn.next(Told.id)).text).toBe("four")
    // her old token is spent, on either front
    for (const port of [front2, front1]) {
      const again = yield* resumeWith(port, { token: erin.token, uid: "erin", received: 2 })
      expect(again.answer).toEqual(refused("Used"))
    }
    // the new one resumes on front2 itself
    yield* back.conn.destroy
    const local = yield* resumeWith(front2, { token: back.answer.token, uid: "erin", received: 6 })
    expect(local.answer).toMatchObject({ _tag: "ResumeOk", requests: 1 })
  })

/** Tokens no front will hand over: each refused typed, the connection still serves. */
const hostileTokens = (front1: number, front2: number) =>
  Effect.gen(function* () {
    const secret = "A".repeat(22)
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [{ token: `nobody.${secret}`, uid: "x", received: 0 }, "Unknown"],
      [{ token: `master.${secret}`, uid: "x", received: 0 }, "Unknown"],
      [{ token: `front2.${secret}`, uid: "x", received: 0 }, "Unknown"],
      [{ token: `front1.${secret}`, uid: "x", received: 0 }, "Unknown"],
      [{ token: `front1.${"A".repeat(300)}`, uid: "x", received: 0 }, "Invalid"],
      [{ token: `front1.${secret}`, uid: "x".repeat(300), received: 0 }, "Unknown"],
      ["not json", "Invalid"]
    ]
    let n = 0
    for (const [body, reason] of cases) {
      const { conn, answer } = yield* resumeWith(front2, body)
      expect(answer).toEqual(refused(reason))
      yield* stillServes(conn, `probe${n++}`)
    }
    // grace's real token, presented for another uid: refused, her session untouched; then she
    // takes it to front2 while her connection to front1 is still up (it is closed)
    const grace = yield* loggedIn(front1, "grace")
    const wrong = yield* resumeWith(front2, { token: grace.token, uid: "mallory", received: 1 })
    expect(wrong.answer).toEqual(refused("Unknown"))
    const moved = yield* resumeWith(front2, { token: grace.token, uid: "grace", received: 1 })
    expect(moved.answer).toMatchObject({ _tag: "ResumeOk", requests: 1 })
    yield* grace.raw.closed.pipe(Effect.timeout("10 seconds"))
    // a client that claims frames the server never sent cannot be caught up
    const heidi = yield* loggedIn(front1, "heidi")
    const claim = yield* resumeWith(front2, { token: heidi.token, uid: "heidi", received: 99 })
    expect(claim.answer).toEqual(refused("Resync"))
  })

/** A reconnecting client given both fronts comes back on front2 when front1's network drops. */
const reconnectingAcrossFronts = (front1: number, front2: number) =>
  Effect.gen(function* () {
    const net = yield* proxy(front1)
    const { events, told } = yield* reconnectingPlayer([connect(net.port), connect(front2)], "hana", 1)
    expect(net.drop()).toBeGreaterThan(0)
    expect([...(yield* Fiber.join(events).pipe(Effect.timeout("15 seconds")))]).toEqual([
      "Connected",
      "Disconnected",
      "Resumed"
    ])
    const ivan = yield* connect(front1)
    expect(yield* ivan.call(Login, "ivan")).toBe("welcome ivan")
    expect(yield* ivan.call(Tell, { to: "hana", text: "found you" })).toEqual({ node: "front2" })
    expect([...(yield* Fiber.join(told).pipe(Effect.timeout("10 seconds")))]).toEqual(["found you"])
  })

describe("resume across front nodes (real processes)", () => {
  it(
    "a session moves to the other front with what it missed; hostile tokens are refused typed; a dead front's token is refused",
    {
      timeout: 150_000
    },
    () =>
      withFronts(
        "resume-fronts",
        {
          front1: { resume: { window: 30 } },
          front2: { resume: { window: 30 } },
          supervisor: { graceSeconds: 2 }
        },
        async ({ front1, front2, pidOf }) => {
          await frontsLogIn([front1, front2].map((port) => [port, `probe${port}`] as const))
          await Effect.runPromise(Effect.scoped(moveToOtherFront(front1, front2)))
          await Effect.runPromise(Effect.scoped(hostileTokens(front1, front2)))
          await Effect.runPromise(Effect.scoped(reconnectingAcrossFronts(front1, front2)))

          // front1 dies with ivy's session: her token is refused typed on front2, she logs in again
          const front1Pid = (await pidOf("front1"))!
          await Effect.runPromise(
            Effect.scoped(
              Effect.gen(function* () {
                const ivy = yield* loggedIn(front1, "ivy")
                process.kill(front1Pid, "SIGKILL")
                yield* ivy.raw.closed.pipe(Effect.timeout("10 seconds"))
                const started = Date.now()
                const { conn, answer } = yield* resumeWith(front2, {
                  token: ivy.token,
                  uid: "ivy",
                  received: 1
                })
                expect(answer).toEqual(refused("Unknown"))
                expect(Date.now() - started).toBeLessThan(10_000)
                yield* stillServes(conn, "ivy")
              })
            )
          )
        }
      )
  )
})
