/**
 * Jobs: scheduled runs under the TestClock (no wall-clock waits), their reports, and the
 * refusals (bad cron, duplicate or bad name).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Ref, Schedule, Scope, TestClock } from "effect"
import * as Jobs from "../src/Jobs.js"

const report = (name: string) =>
  Effect.map(Jobs.reports, (all) => {
    const found = all.find((r) => r.name === name)
    if (found === undefined) throw new Error(`no job ${name}`)
    return found
  })

describe("Jobs", () => {
  it.scoped("a Schedule job runs at each interval and reports its last and next run", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      yield* Jobs.schedule(
        "tick",
        Schedule.spaced("10 seconds"),
        Ref.update(runs, (n) => n + 1)
      )
      yield* Effect.yieldNow()
      expect(yield* Ref.get(runs)).toBe(0)
      expect((yield* report("tick")).nextRunAt).toBe(10_000)
      yield* TestClock.adjust("10 seconds")
      expect(yield* Ref.get(runs)).toBe(1)
      const after = yield* report("tick")
      expect(after.lastRun).toEqual({ startedAt: 10_000, durationMs: 0, outcome: "success", error: null })
      expect(after.nextRunAt).toBe(20_000)
      yield* TestClock.adjust("25 seconds")
      expect(yield* Ref.get(runs)).toBe(3)
      expect((yield* report("tick")).runs).toBe(3)
    }).pipe(Effect.provide(Jobs.layer))
  )

  it.scoped("a cron job runs at the expression's times, in UTC", () =>
    Effect.gen(function* () {
      const at = yield* Ref.make<ReadonlyArray<number>>([])
      yield* Jobs.cron(
        "five",
        "*/5 * * * *",
        Effect.flatMap(TestClock.currentTimeMillis, (t) => Ref.update(at, (xs) => [...xs, t]))
      )
      yield* Effect.yieldNow()
      expect((yield* report("five")).nextRunAt).toBe(5 * 60_000)
      expect((yield* report("five")).schedule).toBe("*/5 * * * *")
      yield* TestClock.adjust("16 minutes")
      expect(yield* Ref.get(at)).toEqual([5 * 60_000, 10 * 60_000, 15 * 60_000])
      expect((yield* report("five")).nextRunAt).toBe(20 * 60_000)
    }).pipe(Effect.provide(Jobs.layer))
  )

  it.scoped("a failing run is recorded with its duration and the job goes on", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const job = Effect.gen(function* () {
        const n = yield* Ref.updateAndGet(calls, (c) => c + 1)
        yield* Effect.sleep("2 seconds")
        if (n === 1) return yield* Effect.fail(new Error("disk full\nstack..."))
      })
      yield* Jobs.schedule("flaky", Schedule.spaced("1 minute"), job)
      yield* TestClock.adjust("1 minute")
      expect((yield* report("flaky")).running).toBe(true)
      yield* TestClock.adjust("2 seconds")
      const failed = yield* report("flaky")
      expect(failed.lastRun).toEqual({
        startedAt: 60_000,
        durationMs: 2_000,
        outcome: "failure",
        error: "disk full"
      })
      expect(failed.failures).toBe(1)
      expect(failed.nextRunAt).toBe(122_000)
      yield* TestClock.adjust("62 seconds")
      const ok = yield* report("flaky")
      expect(ok.lastRun?.outcome).toBe("success")
      expect([ok.runs, ok.failures]).toEqual([2, 1])
    }).pipe(Effect.provide(Jobs.layer))
  )

  it.effect("a job stops, and leaves the reports, when its scope closes", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const scope = yield* Scope.make()
      yield* Jobs.schedule(
        "short",
        Schedule.spaced("1 second"),
        Ref.update(runs, (n) => n + 1)
      ).pipe(Scope.extend(scope))
      yield* TestClock.adjust("3 seconds")
      expect(yield* Ref.get(runs)).toBe(3)
      yield* Scope.close(scope, Exit.void)
      expect(yield* Jobs.reports).toEqual([])
      yield* TestClock.adjust("3 seconds")
      expect(yield* Ref.get(runs)).toBe(3)
    }).pipe(Effect.provide(Jobs.layer))
  )

  it.scoped("a schedule that ends ends the job: no next run", () =>
    Effect.gen(function* () {
      yield* Jobs.schedule("twice", Schedule.recurs(2), Effect.void)
      yield* TestClock.adjust("1 second")
      const done = yield* report("twice")
      expect([done.runs, done.nextRunAt]).toEqual([2, null])
    }).pipe(Effect.provide(Jobs.layer))
  )

  it.scoped("refuses a bad cron expression, a duplicate name and a hostile name", () =>
    Effect.gen(function* () {
      const bad = yield* Effect.flip(Jobs.cron("bad", "*/5 * *", Effect.void))
      expect(bad.reason).toBe("InvalidCron")
      yield* Jobs.schedule("one", Schedule.spaced("1 second"), Effect.void)
      const twice = yield* Effect.flip(Jobs.schedule("one", Schedule.spaced("1 second"), Effect.void))
      expect(twice.reason).toBe("DuplicateName")
      const hostile = yield* Effect.flip(Jobs.schedule("<img src=x>", Schedule.forever, Effect.void))
      expect(hostile.reason).toBe("InvalidName")
      expect((yield* Jobs.reports).map((r) => r.name)).toEqual(["one"])
    }).pipe(Effect.provide(Jobs.layer))
  )
})
