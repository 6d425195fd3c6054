/**
 * `Incarnation`, the service a supervised child's running incarnation gets, and the two calls
 * that use it (re-exported by the public `NodeSupervisor` module; a node process reports its pid
 * with it, a master's node watcher its readiness).
 *
 * @internal
 */
import { Context, Effect, Option } from "effect"

/**
 * Given to each incarnation: lets it report its OS pid and its readiness.
 *
 * @since 0.1.0
 * @category services
 */
export class Incarnation extends Context.Tag("hotaru/Supervisor/Incarnation")<
  Incarnation,
  {
    readonly name: string
    readonly reportPid: (pid: number) => Effect.Effect<void>
    readonly ready: Effect.Effect<void>
  }
>() {}

/**
 * Reports the OS pid of the running incarnation (no-op outside a supervised child).
 *
 * @since 0.1.0
 * @category utils
 */
export const reportPid = (pid: number): Effect.Effect<void> =>
  Effect.flatMap(Effect.serviceOption(Incarnation), (i) =>
    Option.isSome(i) ? i.value.reportPid(pid) : Effect.void
  )

/**
 * Marks the running incarnation as `running` (for `awaitReady` children; no-op outside one).
 *
 * @since 0.1.0
 * @category utils
 */
export const ready: Effect.Effect<void> = Effect.flatMap(Effect.serviceOption(Incarnation), (i) =>
  Option.isSome(i) ? i.value.ready : Effect.void
)
