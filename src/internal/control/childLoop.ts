/**
 * The life of one supervised child under the public `NodeSupervisor`: its status record, and the
 * loop that runs its incarnations one after the other, restarts it after each exit with its
 * backoff, and marks it `failed` (or `failed-retrying`, then tries again) past its intensity.
 *
 * @internal
 */
import { Cause, Clock, type Context, Duration, Effect, Exit, Option, Schedule } from "effect"
import type { ChildSpec } from "../../NodeSupervisor.js"
import type { ChildState } from "./childState.js"
import { Incarnation } from "./incarnation.js"
import { backoff } from "./restartSchedule.js"

/** A child as the supervisor keeps it. */
export interface Child {
  readonly name: string
  readonly state: ChildState
  readonly restarts: number
  readonly startedAt: Option.Option<number>
  readonly lastExit: Option.Option<string>
  readonly pid: Option.Option<number>
  /** Bumped on every (re)launch so a stale loop cannot overwrite a newer one's status. */
  readonly generation: number
}

/** A started child's spec, and the context of the `start` call its incarnations run in. */
export interface Registered {
  readonly spec: ChildSpec<unknown, never>
  readonly context: Context.Context<never>
}

/** Updates a child's status, unless a newer launch (another `generation`) has taken over. */
export type Update = (name: string, generation: number, f: (c: Child) => Child) => Effect.Effect<void>

const describe = (error: unknown): string => {
  if (typeof error === "string") return error
  if (error instanceof Error) {
    const tag = (error as { _tag?: unknown })._tag
    const label = typeof tag === "string" ? tag : error.name
    return error.message ? `${label}: ${error.message}` : label
  }
  try {
    return JSON.stringify(error) ?? String(error)
  } catch {
    return String(error)
  }
}

/** How an incarnation ended, as `ChildStatus.lastExit` says it. */
export const describeExit = (exit: Exit.Exit<void, unknown>): string => {
  if (Exit.isSuccess(exit)) return "exited"
  const cause = exit.cause
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return `failed: ${describe(failure.value)}`
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) return `died: ${describe(defect.value)}`
  return `failed: ${Cause.pretty(cause)}`
}

/** Runs child `name` (launch `generation`) until it is `failed` or interrupted (then `stopped`). */
export const loop = (
  name: string,
  generation: number,
  { spec, context }: Registered,
  update: Update
): Effect.Effect<void> =>
  Effect.gen(function* () {
    let lastExit = ""
    const schedule = Schedule.isSchedule(spec.backoff) ? spec.backoff : backoff(spec.backoff)
    // the delay is known (and logged, with the child shown in `backoff`) before the sleep
    const delays = yield* Schedule.driver(
      Schedule.delays(schedule).pipe(
        Schedule.tapOutput((delay) =>
          Effect.logWarning(`child ${name} ${lastExit}; restarting in ${Duration.format(delay)}`)
        )
      )
    )
    const maxRestarts = spec.intensity?.maxRestarts ?? 5
    const within = Duration.toMillis(spec.intensity?.within ?? "60 seconds")
    const restartTimes: Array<number> = []
    const retry = spec.retryFailed === undefined ? undefined : yield* Schedule.driver(spec.retryFailed)
    const incarnation = Incarnation.of({
      name,
      reportPid: (pid) => update(name, generation, (c) => ({ ...c, pid: Option.some(pid) })),
      ready: update(name, generation, (c) => (c.state === "starting" ? { ...c, state: "running" } : c))
    })
    while (true) {
      const startedAt = yield* Clock.currentTimeMillis
      yield* update(name, generation, (c) => ({
        ...c,
        state: spec.awaitReady === true ? "starting" : "running",
        startedAt: Option.some(startedAt),
        pid: Option.none()
      }))
      const exit = yield* spec.run.pipe(
        Effect.scoped,
        Effect.provideService(Incarnation, incarnation),
        Effect.provide(context),
        Effect.exit
      )
      lastExit = describeExit(exit)
      const now = yield* Clock.currentTimeMillis
      while (restartTimes.length > 0 && restartTimes[0]! <= now - within) restartTimes.shift()
      if (restartTimes.length >= maxRestarts) {
        const failed = (state: ChildState) =>
          update(name, generation, (c) => ({
            ...c,
            state,
            lastExit: Option.some(lastExit),
            pid: Option.none()
          }))
        if (retry === undefined) {
          yield* Effect.logError(
            `child ${name} ${lastExit}; more than ${maxRestarts} restarts within ${within} ms: giving up`
          )
          return yield* failed("failed")
        }
        yield* Effect.logError(
          `child ${name} ${lastExit}; more than ${maxRestarts} restarts within ${within} ms: failed, retrying later`
        )
        yield* failed("failed-retrying")
        const again = yield* Effect.option(retry.next(undefined))
        if (Option.isNone(again)) {
          yield* Effect.logError(`child ${name}: no retry left, giving up`)
          return yield* failed("failed")
        }
        restartTimes.length = 0
        yield* Effect.logWarning(`child ${name}: retrying after failure`)
        yield* update(name, generation, (c) => ({ ...c, restarts: c.restarts + 1 }))
        continue
      }
      if (restartTimes.length === 0) yield* delays.reset
      restartTimes.push(now)
      yield* update(name, generation, (c) => ({
        ...c,
        state: "backoff",
        restarts: c.restarts + 1,
        lastExit: Option.some(lastExit),
        pid: Option.none()
      }))
      const slept = yield* Effect.option(delays.next(undefined))
      if (Option.isNone(slept)) {
        yield* Effect.logError(`child ${name} ${lastExit}; its backoff schedule ended: giving up`)
        return yield* update(name, generation, (c) => ({ ...c, state: "failed", pid: Option.none() }))
      }
    }
  }).pipe(
    Effect.onInterrupt(() =>
      update(name, generation, (c) => ({
        ...c,
        state: "stopped",
        lastExit: Option.some("stopped"),
        pid: Option.none()
      }))
    ),
    Effect.annotateLogs("child", name)
  )
