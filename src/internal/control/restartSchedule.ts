/**
 * The restart schedules of supervised children: the default backoff between restarts and the
 * slow retry of a failed child (re-exported by the public `NodeSupervisor` module).
 *
 * @internal
 */
import { type Duration, Schedule } from "effect"

/**
 * The options of {@link backoff}.
 *
 * @since 0.1.0
 * @category models
 */
export interface BackoffOptions {
  /** The first delay (default 200 ms). */
  readonly base?: Duration.DurationInput
  /** The longest delay (default 10 s). */
  readonly max?: Duration.DurationInput
  /** Scale each delay by a random 0.5..1.5 (default `false`). */
  readonly jitter?: boolean
}

/**
 * The default restart backoff of a child: `base`, doubling per restart, capped at `max`; with
 * `jitter`, each delay scaled by a random 0.5..1.5.
 *
 * ```ts
 * yield* sup.start({ name: "game1", run, backoff: NodeSupervisor.backoff({ base: "1 second", max: "30 seconds" }) })
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const backoff = (options: BackoffOptions = {}): Schedule.Schedule<unknown, unknown> => {
  const capped = Schedule.exponential(options.base ?? "200 millis").pipe(
    Schedule.either(Schedule.spaced(options.max ?? "10 seconds"))
  )
  return options.jitter === true ? Schedule.jitteredWith(capped, { min: 0.5, max: 1.5 }) : capped
}

/**
 * The slow retry of a failed child: `base`, doubling per retry, capped at `max`, each delay
 * scaled by a random 0.5..1 (so never above `max`, and a fleet of nodes does not retry in step).
 *
 * ```ts
 * yield* sup.start({ name: "game1", run, retryFailed: NodeSupervisor.slowRetry("30 seconds", "5 minutes") })
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const slowRetry = (
  base: Duration.DurationInput,
  max: Duration.DurationInput
): Schedule.Schedule<unknown, unknown> =>
  Schedule.exponential(base).pipe(
    Schedule.either(Schedule.spaced(max)),
    Schedule.jitteredWith({ min: 0.5, max: 1 })
  )
