/**
 * Sessions the master holds for a stopped front, in real processes (`hotaru start`: a master
 * and two fronts with resume on). front1 is SIGTERMed with erin bound and her client does not
 * come back within front1's drain (one second): the drain hands her session to the master. A
 * push to her meanwhile is kept there (`Delivered` says `master`), and so is a push to the lobby
 * channel she joined (she is listed as the master's member); when the supervisor has
 * restarted front1, she resumes on it, with its own old token, and gets what she missed once, in
 * order, with no second login; pushes reach her on front1 again, and the token is spent.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as NetCommand from "../src/NetCommand.js"
import { Heard, JoinLobby, Lobby, Login, Shout, Tell, Told } from "./fixtures/playersApp.js"
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
            yield* erin.send(JoinLobby.id, "")
            expect((yield* erin.next(JoinLobby.id)).text).toBe("joined")
            const frank = yield* connect(front2)
            expect(yield* frank.call(Login, "frank")).toBe("welcome frank")
            expect(yield* frank.call(Tell, { to: "erin", text: "zero" })).toEqual({ node: "front1" })
            expect((yield* erin.next(Told.id)).text).toBe("zero")

            // front1 stops; erin's client stays away past its drain: the master holds her session
            process.kill(pid, "SIGTERM")
            yield* erin.closed.pipe(Effect.timeout("5 seconds"))
            yield* until("front1 to exit", () => !alive(pid), 20_000)
            // held, she is still in the lobby: a channel push is kept for her, she is listed as the master's
            expect(yield* frank.call(Shout, "all")).toBe(1)
            expect(yield* frank.call(Lobby, null)).toEqual([{ node: "master", count: 1, uids: ["erin"] }])
            expect(yield* frank.call(Tell, { to: "erin", text: "held" })).toEqual({ node: "master" })

            // front1 restarted: erin comes back there with its old token (she claims 2 frames: welcome, joined)
            yield* Effect.promise(() => frontsLogIn([[front1, "probe"]]))
            expect(yield* Effect.promise(() => pidOf("front1"))).not.toBe(pid)
            const back = yield* Raw.connect(front1)
            yield* back.send(RESUME_COMMAND, { token, uid: "erin", received: 2 })
            const answer = (yield* back.json(RESUME_COMMAND).pipe(Effect.timeout("10 seconds"))) as Record<
              string,
              unknown
            >
            expect(answer).toMatchObject({ _tag: "ResumeOk", requests: 2 })
            expect(answer.token).toMatch(/^front1\./)
            // in order, once: what she missed before the stop, then the channel push, then the tell
            const wait = Effect.timeout("10 seconds")
            expect((yield* back.next(Told.id).pipe(wait)).text).toBe("zero")
            expect((yield* back.next(Heard.id).pipe(wait)).text).toBe("all")
            expect((yield* back.next(Told.id).pipe(wait)).text).toBe("held")
            // back on a front: she is in the lobby there again
            expect(yield* frank.call(Lobby, null)).toEqual([{ node: "front1", count: 1, uids: ["erin"] }])
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
