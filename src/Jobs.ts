/**
 * Scheduled jobs of a node, declared in code: `Jobs.cron("cleanup", "*\/5 * * * *", effect)` or
 * `Jobs.schedule("flush", Schedule.spaced("30 seconds"), effect)`. A job runs in a fiber of the
 * scope it is started in (the app's scope when started from an app layer: it stops with the node
 * and is started again by a reload), one run at a time: a run that takes longer than the interval
 * delays the next one, never overlaps it. A failing run is logged and recorded; the job goes on.
 *
 * Every node provides `Jobs` to its app. Each job's last run (start, duration, outcome) and next
 * run are in the node's admin `Status`, hence in the master's `/status` and its dashboard.
 *
 * ```ts
 * export default Node.app(
 *   Layer.scopedDiscard(Jobs.cron("cleanup", "0 * * * *", Effect.log("hourly cleanup")))
 * )
 * ```
 *
 * Times come from Effect's `Clock`: under `TestClock` a job runs when the test adjusts the clock.
 *
 * @since 0.1.0
 */
import { Cron, Effect, Either, Layer, Schedule, type Scope } from "effect"
import { JobError, Jobs, make as makeJobs } from "./internal/jobs/registry.js"

export { JobReport, JobRun } from "./internal/jobs/jobReport.js"
export { JobError, Jobs } from "./internal/jobs/registry.js"

/**
 * A fresh registry of jobs (what every node provides; for use outside a node, or in tests).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = makeJobs

/**
 * {@link Jobs} as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Jobs> = Layer.effect(Jobs, makeJobs)

/**
 * Run `effect` as job `name` whenever `schedule` says, in the current scope. The first run is at
 * the schedule's first decision (`Schedule.spaced("1 minute")`: a minute after the start), and
 * the job ends when the schedule is done or the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const schedule = <X, E, R>(
  name: string,
  schedule: Schedule.Schedule<X, unknown>,
  effect: Effect.Effect<unknown, E, R>
): Effect.Effect<void, JobError, Jobs | R | Scope.Scope> =>
  Effect.flatMap(Jobs, (jobs) => jobs.run(name, "schedule", schedule, effect))

/**
 * Run `effect` as job `name` at the times of a cron expression (`minute hour day month weekday`,
 * optionally with seconds first; see Effect's `Cron`), in UTC unless `tz` names a time zone. An
 * expression that does not parse fails with `JobError` (`InvalidCron`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const cron = <E, R>(
  name: string,
  expression: string,
  effect: Effect.Effect<unknown, E, R>,
  options: { readonly tz?: string } = {}
): Effect.Effect<void, JobError, Jobs | R | Scope.Scope> =>
  Effect.gen(function* () {
    const parsed = Cron.parse(expression, options.tz ?? "UTC")
    if (Either.isLeft(parsed)) {
      return yield* new JobError({
        reason: "InvalidCron",
        job: name,
        message: `job ${name}: invalid cron expression ${JSON.stringify(expression)}: ${parsed.left.message}`
      })
    }
    const jobs = yield* Jobs
    yield* jobs.run(name, expression, Schedule.cron(parsed.right), effect)
  })

/**
 * The jobs running now (what the node's `Status` reports).
 *
 * @since 0.1.0
 * @category accessors
 */
export const reports = Effect.flatMap(Jobs, (jobs) => jobs.reports)
