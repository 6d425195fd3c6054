/**
 * A front's graceful stop keeps its sessions resumable on another front, in real processes
 * (`hotaru start`: a master and two fronts with resume on). front1 is SIGTERMed with two players
 * bound: it stops accepting, parks them and keeps its master link while it drains; a push sent
 * meanwhile waits in the parked session; a raw client resumes on front2 with what it missed
 * replayed once, in order; a reconnecting client given both fronts resumes on front2 with no
 * login; pushes by uid reach front2; front1 exits once both are taken (before its drain time).
 */
import { Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import * as NetCommand from "../src/NetCommand.js"
import { Login, Tell, Told } from "./fixtures/playersApp.js"
import { alive } from "./support/child.js"
import { connect, frontsLogIn, reconnectingPlayer, withFronts } from "./support/playersFronts.js"
import * as Raw from "./support/rawFrames.js"

const { RESUME_COMMAND, SESSION_COMMAND } = NetCommand
const DRAIN_SECONDS = 10

/** Milliseconds until `pid` is gone (at most `within`). */
const goneWithin = (pid: number, within: number) =>
  Effect.gen(function* () {
    const started = Date.now()
    while (alive(pid) && Date.now() - started < within) yield* Effect.sleep("20 millis")
    return Date.now() - started
  })

describe("a front's graceful stop (real processes)", () => {
  it(
    "its sessions resume on the other front with what they missed; front1 exits once they are taken",
    {
      timeout: 150_000
    },
    () =>
      withFronts(
        "resume-drain",
        {
          front1: { resume: { window: 30, drain: DRAIN_SECONDS } },
          front2: { resume: { window: 30, drain: DRAIN_SECONDS } },
          supervisor: { graceSeconds: DRAIN_SECONDS + 5 }
        },
        async ({ front1, front2, pidOf }) => {
          // each probe's session parks as it closes; erin's and frank's logins end them
          await frontsLogIn([
            [front1, "erin"],
            [front2, "frank"]
          ])
          const pid = (await pidOf("front1"))!
          await Effect.runPromise(
            Effect.scoped(
              Effect.gen(function* () {
                // erin, raw on front1 (the session frame is not counted as received)
                const erin = yield* Raw.connect(front1)
                yield* erin.send(Login.id, "erin")
                const { token } = (yield* erin.json(SESSION_COMMAND)) as { token: string }
                expect((yield* erin.next(Login.id)).text).toBe("welcome erin")
                // hana, reconnecting with both fronts, on front1
                const { events, told } = yield* reconnectingPlayer(
                  [connect(front1), connect(front2)],
                  "hana",
                  2
                )
                const frank = yield* connect(front2)
                expect(yield* frank.call(Login, "frank")).toBe("welcome frank")
                expect(yield* frank.call(Tell, { to: "erin", text: "zero" })).toEqual({ node: "front1" })
                expect((yield* erin.next(Told.id)).text).toBe("zero")
                expect(yield* frank.call(Tell, { to: "hana", text: "before" })).toEqual({ node: "front1" })

                const stopped = Date.now()
                process.kill(pid, "SIGTERM")
                yield* erin.closed.pipe(Effect.timeout("5 seconds"))
                // front1 drains: erin's session is parked there, a push waits in it
                for (const text of ["one", "two"]) {
                  expect(yield* frank.call(Tell, { to: "erin", text })).toEqual({ node: "front1" })
                }
                const back = yield* Raw.connect(front2)
                yield* back.send(RESUME_COMMAND, { token, uid: "erin", received: 2 })
                const answer = (yield* back
                  .json(RESUME_COMMAND)
                  .pipe(Effect.timeout("15 seconds"))) as Record<string, unknown>
                expect(answer).toMatchObject({ _tag: "ResumeOk", requests: 1 })
                const replayed = []
                for (let i = 0; i < 2; i++)
                  replayed.push((yield* back.next(Told.id).pipe(Effect.timeout("10 seconds"))).text)
                expect(replayed).toEqual(["one", "two"])
                expect(yield* frank.call(Tell, { to: "erin", text: "three" })).toEqual({ node: "front2" })
                expect((yield* back.next(Told.id)).text).toBe("three")

                // hana resumed on front2 with no login
                expect([...(yield* Fiber.join(events).pipe(Effect.timeout("15 seconds")))]).toEqual([
                  "Connected",
                  "Disconnected",
                  "Resumed"
                ])
                expect(yield* frank.call(Tell, { to: "hana", text: "found you" })).toEqual({ node: "front2" })
                expect([...(yield* Fiber.join(told).pipe(Effect.timeout("10 seconds")))]).toEqual([
                  "before",
                  "found you"
                ])
                // both taken: front1 exits before its drain time is over
                yield* goneWithin(pid, 30_000)
                expect(Date.now() - stopped).toBeLessThan(DRAIN_SECONDS * 1000)
              })
            )
          )
        }
      )
  )
})
