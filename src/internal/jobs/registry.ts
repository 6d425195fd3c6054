/**
 * The jobs of one node: a registry of the scheduled jobs running in it (each registered for the
 * life of the scope it runs in) and the loop that runs one job on its `Schedule`, in a fiber of
 * that scope (no timers outside Effect: the `Clock` sleeps, so `TestClock` drives it in tests).
 *
 * @internal
 */
import { Cause, Clock, Context, Data, Duration, Effect, Exit, Ref, type Schedule, type Scope } from "effect"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import type { JobReport, JobRun } from "./jobReport.js"

/**
 * A job that could not be started: a cron expression that does not parse, a name already used
 * by a running job of the node, or a bad name.
 *
 * @since 0.1.0
 * @category errors
 */
export class JobError extends Data.TaggedError("JobError")<{
  readonly reason: "InvalidCron" | "DuplicateName" | "InvalidName"
  readonly job: string
  readonly message: string
}> {}

/**
 * The scheduled jobs of a node (every node has one; `Jobs.cron` and `Jobs.schedule` register
 * with it).
 *
 * @since 0.1.0
 * @category services
 */
export class Jobs extends Context.Tag("hotaru/Jobs")<
  Jobs,
  {
    /** The jobs running now, in the order they were started. */
    readonly reports: Effect.Effect<ReadonlyArray<JobReport>>
    /** Run `effect` on `schedule` in the current scope, under `name`. */
    readonly run: <X, E, R>(
      name: string,
      description: string,
      schedule: Schedule.Schedule<X, unknown>,
      effect: Effect.Effect<unknown, E, R>
    ) => Effect.Effect<void, JobError, R | Scope.Scope>
  }
>() {}

/** Job names: what a config's node names allow, so they print safely anywhere. */
const validName = /^[A-Za-z0-9_.:-]{1,64}$/

/** The first line of a failure, bounded. */
const describe = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.squash(cause)
  const text = failure instanceof Error ? failure.message : String(failure)
  return (text.split("\n")[0] ?? "").slice(0, 300)
}

/** A registry of jobs. */
export const make: Effect.Effect<Context.Tag.Service<Jobs>> = Effect.gen(function* () {
  const jobs = yield* Ref.make<ReadonlyMap<string, Ref.Ref<JobReport>>>(new Map())

  const register = (name: string, description: string) =>
    Effect.acquireRelease(
      Effect.gen(function* () {
        if (!validName.test(name)) {
          return yield* new JobError({
            reason: "InvalidName",
            job: name.slice(0, 64),
            message: "a job name is 1 to 64 characters of A-Z a-z 0-9 _ . : -"
          })
        }
        const report = yield* Ref.make<JobReport>({
          name,
          schedule: description,
          runs: 0,
          failures: 0,
          running: false,
          lastRun: null,
          nextRunAt: null
        })
        const added = yield* Ref.modify(jobs, (map) =>
          map.has(name) ? [false, map] : [true, new Map([...map, [name, report]])]
        )
        if (!added) {
          return yield* new JobError({
            reason: "DuplicateName",
            job: name,
            message: `a job named ${name} already runs on this node`
          })
        }
        return report
      }),
      () =>
        Ref.update(jobs, (map) => {
          const next = new Map(map)
          next.delete(name)
          return next
        })
    )

  /** One run: its outcome recorded, a failure logged; the loop goes on after either. */
  const once = <E, R>(report: Ref.Ref<JobReport>, effect: Effect.Effect<unknown, E, R>) =>
    Effect.gen(function* () {
      const startedAt = yield* Clock.currentTimeMillis
      yield* Ref.update(report, (r) => ({ ...r, running: true, nextRunAt: null }))
      const exit = yield* Effect.exit(effect)
      const end = yield* Clock.currentTimeMillis
      if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
      const lastRun: JobRun = Exit.isSuccess(exit)
        ? { startedAt, durationMs: end - startedAt, outcome: "success", error: null }
        : { startedAt, durationMs: end - startedAt, outcome: "failure", error: describe(exit.cause) }
      if (Exit.isFailure(exit)) yield* Effect.logWarning("job failed", exit.cause)
      yield* Ref.update(report, (r) => ({
        ...r,
        running: false,
        runs: r.runs + 1,
        failures: r.failures + (lastRun.outcome === "failure" ? 1 : 0),
        lastRun
      }))
    })

  const loop = <X, E, R>(
    report: Ref.Ref<JobReport>,
    schedule: Schedule.Schedule<X, unknown>,
    effect: Effect.Effect<unknown, E, R>
  ): Effect.Effect<void, never, R> =>
    Effect.gen(function* () {
      let state: unknown = schedule.initial
      while (true) {
        const now = yield* Clock.currentTimeMillis
        const [next, , decision] = yield* schedule.step(now, undefined, state)
        state = next
        if (ScheduleDecision.isDone(decision)) break
        const at = Math.max(now, Intervals.start(decision.intervals))
        yield* Ref.update(report, (r) => ({ ...r, nextRunAt: at }))
        yield* Effect.sleep(Duration.millis(at - now))
        yield* once(report, effect)
      }
      yield* Ref.update(report, (r) => ({ ...r, nextRunAt: null }))
    })

  return {
    reports: Effect.flatMap(Ref.get(jobs), (map) => Effect.forEach(map.values(), Ref.get)),
    run: (name, description, schedule, effect) =>
      Effect.flatMap(register(name, description), (report) =>
        Effect.asVoid(
          Effect.forkScoped(loop(report, schedule, effect).pipe(Effect.annotateLogs({ job: name })))
        )
      )
  }
})
