/**
 * A front's drain when the master cannot hold its sessions, in real processes (`hotaru start`: a
 * master and two fronts with resume on, fast link heartbeats). The master is frozen (SIGSTOP)
 * and front1 is SIGTERMed with erin bound: her session has nowhere to go. The drain must not
 * hang on the frozen master: the link's heartbeat drops it, the hold fails (a warning, no
 * session confirmed held) and front1 exits within a bound. Once the master runs again and has
 * restarted front1, erin's old token resumes at most once (the hold may land late, from the
 * frozen master's socket buffer) and is otherwise refused with a typed `ResumeRefused`; she can
 * log in afresh.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as NetCommand from "../src/NetCommand.js"
import { Login } from "./fixtures/playersApp.js"
import { alive } from "./support/child.js"
import { frontsLogIn, withFrontsScoped } from "./support/playersFronts.js"
import * as Raw from "./support/rawFrames.js"
import { until } from "./support/wait.js"

const { RESUME_COMMAND, SESSION_COMMAND } = NetCommand

describe("a drain whose master does not answer (real processes)", () => {
  it(
    "front1 exits in bounded time with the master frozen, and the session it could not hand over resumes at most once",
    {
      timeout: 150_000
    },
    () =>
      withFrontsScoped(
        "resume-hold-failed",
        {
          front1: { resume: { window: 60, drain: 1 } },
          front2: { resume: { window: 60 } },
          heartbeat: { interval: 0.5, timeout: 2 }
        },
        ({ front1, front2, pidOf, masterPid }) =>
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

            // the master freezes; front1 stops: its drain's hold gets no answer
            process.kill(masterPid, "SIGSTOP")
            const stoppedAt = Date.now()
            try {
              process.kill(pid, "SIGTERM")
              yield* erin.closed.pipe(Effect.timeout("5 seconds"))
              // drain 1 s + settle 0.5 s + the heartbeat's 2 s + the way out: well under 15 s
              yield* until("front1 to exit with its master frozen", () => !alive(pid), 15_000)
              expect(Date.now() - stoppedAt).toBeLessThan(15_000)
            } finally {
              process.kill(masterPid, "SIGCONT")
            }

            // the master runs again and restarts front1. The hold front1 sent sat in the frozen
            // master's socket: the master may still apply it after front1 has gone (front1 only
            // knows it got no answer). Either way the session is given out at most once.
            yield* Effect.promise(() => frontsLogIn([[front1, "probe"]]))
            expect(yield* Effect.promise(() => pidOf("front1"))).not.toBe(pid)
            const answers: Array<string> = []
            for (const port of [front1, front2]) {
              const back = yield* Raw.connect(port)
              yield* back.send(RESUME_COMMAND, { token, uid: "erin", received: 1 })
              const answer = (yield* back.json(RESUME_COMMAND).pipe(Effect.timeout("10 seconds"))) as {
                _tag: string
              }
              expect(["ResumeOk", "ResumeRefused"]).toContain(answer._tag)
              answers.push(answer._tag)
            }
            expect(answers.filter((t) => t === "ResumeOk").length).toBeLessThanOrEqual(1)
            // and she logs in afresh
            const again = yield* Raw.connect(front1)
            yield* again.send(Login.id, "erin")
            expect((yield* again.next(Login.id).pipe(Effect.timeout("10 seconds"))).text).toBe("welcome erin")
          })
      )
  )
})
