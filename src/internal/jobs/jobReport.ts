/**
 * `JobReport`, what a node says of one of its scheduled jobs (re-exported by the public `Jobs`
 * module; the node's admin `Status` carries them to the master's `/status` and dashboard).
 *
 * @internal
 */
import { Schema } from "effect"

/**
 * The last run of a job: when it started (epoch millis, Effect `Clock`), how long it took, and
 * its outcome (`error`: the first line of the failure, at most 300 characters).
 *
 * @since 0.1.0
 * @category models
 */
export const JobRun = Schema.Struct({
  startedAt: Schema.Number,
  durationMs: Schema.Number,
  outcome: Schema.Literal("success", "failure"),
  error: Schema.NullOr(Schema.String)
})
export type JobRun = typeof JobRun.Type

/**
 * One scheduled job of a node: its name, its schedule (the cron expression, or `schedule`), how
 * often it ran and failed, whether it runs now, its last run and its next run (epoch millis;
 * null when the schedule is done).
 *
 * @since 0.1.0
 * @category models
 */
export const JobReport = Schema.Struct({
  name: Schema.String,
  schedule: Schema.String,
  runs: Schema.Number,
  failures: Schema.Number,
  running: Schema.Boolean,
  lastRun: Schema.NullOr(JobRun),
  nextRunAt: Schema.NullOr(Schema.Number)
})
export type JobReport = typeof JobReport.Type
