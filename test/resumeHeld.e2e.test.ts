/**
 * Sessions the master holds for a stopped front, in real processes (`hotaru start`: a master
 * and two fronts with resume on). front1 is SIGTERMed with erin bound and her client does not
 * come back within front1's drain (one second): the drain hands her session to the master. A
 * push to her meanwhile is kept there (`Delivered` says `master`); when the supervisor has
 * restarted front1, she resumes on it, with its own old token, and gets what she missed once, in
 * order, with no second login; pushes reach her on front1 again, and the token is spent.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as NetCommand from "../src/NetCommand.js"
import { Login, Tell, Told } from "./fixtures/playersApp.js"
import { alive } from "./support/child.js"
import { connect, frontsLogIn, withFrontsScoped } from "./support/playersFronts.js"
import * as Raw from "./support/rawFrames.js"
import { until } from "./support/wait.js"

const { RESUME_COMMAND, SESSION_COMMAND } = NetCommand

describe("sessions held by the master (real processes)", () => {
  it(
    "a session left after a front's drain resumes on the restarted front, with the pushes sent meanwhile",
    {
      timeout: 150_000
    },
    () =>
      withFrontsScoped(
        "resume-held",
        { front1: { resume: { window: 60, drain: 1 } }, front2: { resume: { window: 60 } } },
        ({ front1, front2, pidOf }) =>
          Effect.gen(function* () {
            yield* Effect.promise(() =>
              frontsLogIn([
                [front1, "erin"],
                [front2, "frank"]
              ])
            )
            const pid = (yield* Effect.promise(() => pidOf("front1")))!
            const erin = yield* Raw.connect(front1)
            yield* erin.send(Login.id, "erin")
            const { token } = (yield* erin.json(SESSION_COMMAND)) as { token: string }
            expect((yield* erin.next(Login.id)).text).toBe("welcome erin")
            const frank = yield* connect(front2)
            expect(yield* frank.call(Login, "frank")).toBe("welcome frank")
            expect(yield* frank.call(Tell, { to: "erin", text: "zero" })).toEqual({ node: "front1" })
            expect((yield* erin.next(Told.id)).text).toBe("zero")

            // front1 stops; erin's client stays away past its drain: the master holds her session
            process.kill(pid, "SIGTERM")
            yield* erin.closed.pipe(Effect.timeout("5 seconds"))
            yield* until("front1 to exit", () => !alive(pid), 20_000)
            expect(yield* frank.call(Tell, { to: "erin", text: "held" })).toEqual({ node: "master" })

            // front1 restarted: erin comes back there with its old token (she claims 1 frame)
            yield* Effect.promise(() => frontsLogIn([[front1, "probe"]]))
            expect(yield* Effect.promise(() => pidOf("front1"))).not.toBe(pid)
            const back = yield* Raw.connect(front1)
            yield* back.send(RESUME_COMMAND, { token, uid: "erin", received: 1 })
            const answer = (yield* back.json(RESUME_COMMAND).pipe(Effect.timeout("10 seconds"))) as Record<
              string,
              unknown
            >
            expect(answer).toMatchObject({ _tag: "ResumeOk", requests: 1 })
            expect(answer.token).toMatch(/^front1\./)
            const replayed = []
            for (let i = 0; i < 2; i++)
              replayed.push((yield* back.next(Told.id).pipe(Effect.timeout("10 seconds"))).text)
            expect(replayed).toEqual(["zero", "held"])
            expect(yield* frank.call(Tell, { to: "erin", text: "after" })).toEqual({ node: "front1" })
            expect((yield* back.next(Told.id)).text).toBe("after")

            // the old token is spent, on either front
            for (const port of [front1, front2]) {
              const again = yield* Raw.connect(port)
              yield* again.send(RESUME_COMMAND, { token, uid: "erin", received: 1 })
              expect(yield* again.json(RESUME_COMMAND)).toMatchObject({ _tag: "ResumeRefused" })
            }
          })
      )
  )
})
