/**
 * OTP-style supervision of named children, each a repeatable Effect (an OS process, a fiber
 * running a node's layer, anything).
 *
 * - A child's `run` is one incarnation: when it returns or fails, the child has exited and is
 *   restarted after the next delay of its backoff `Schedule` (default {@link backoff}: `base *
 *   2^k`, capped at `max`, `k` the restarts since the intensity window was last empty; so a
 *   child that stayed up for `within` restarts after `base` again).
 * - More than `maxRestarts` restarts within `within`: the child is marked `failed` and left
 *   alone (a manual `restart` or `reset` brings it back), or, with a `retryFailed` schedule,
 *   `failed-retrying` and started again after each of the schedule's delays (`slowRetry`).
 * - `stop` interrupts the child's fiber: the incarnation's scope closes, which stops whatever it
 *   acquired (e.g. the process spawned by `spawnNode`). `stopAll` does that one child after the
 *   other in a given order, waiting at most `grace` for each.
 * - All time goes through the Effect `Clock` (tests use `TestClock`).
 *
 * ```ts
 * const sup = yield* NodeSupervisor.make
 * yield* sup.start({ name: "game1", run: runGame1, backoff: { base: "200 millis", max: "10 seconds" } })
 * ```
 *
 * @since 0.1.0
 */
import {
  Context,
  Data,
  Duration,
  Effect,
  FiberMap,
  Layer,
  Option,
  Schedule,
  type Scope,
  Stream,
  SubscriptionRef
} from "effect"
import { type Child, loop, type Registered } from "./internal/control/childLoop.js"
import { ChildState } from "./internal/control/childState.js"
import type { Incarnation } from "./internal/control/incarnation.js"
import { ready } from "./internal/control/incarnation.js"
import { type BackoffOptions, backoff } from "./internal/control/restartSchedule.js"
import * as Metrics from "./internal/observe/metrics.js"

export { ChildState } from "./internal/control/childState.js"
export { Incarnation, ready, reportPid } from "./internal/control/incarnation.js"
export { type BackoffOptions, backoff, slowRetry } from "./internal/control/restartSchedule.js"

/**
 * A snapshot of one child, as given by `status` and `changes`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildStatus {
  readonly name: string
  readonly state: ChildState
  /** Restarts so far (automatic ones and `restart` calls). */
  readonly restarts: number
  /** When the current (or last) incarnation started, in epoch millis (Effect `Clock`). */
  readonly startedAt: Option.Option<number>
  /** How the last incarnation ended: `exited`, `failed: <error>`, `died: <defect>`, `interrupted`, `stopped`. */
  readonly lastExit?: string
  /** The OS pid the running incarnation reported, if any. */
  readonly pid?: number
}

/**
 * What a supervised child is and how it is restarted.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildSpec<E = unknown, R = never> {
  /** Unique among the supervisor's children. */
  readonly name: string
  /**
   * One incarnation. Returning or failing means it exited. It gets a fresh `Scope` (closed when
   * it exits or is stopped) and an {@link Incarnation} service; other requirements are taken from
   * the context of `start`.
   */
  readonly run: Effect.Effect<void, E, R>
  /**
   * Restart delays: the options of {@link backoff} (`base` 200 ms doubled per recent restart up
   * to `max` 10 s, optional jitter), or any `Schedule` (its delays are used; it starts over
   * whenever the intensity window is empty). A schedule that ends leaves the child `failed`.
   */
  readonly backoff?: BackoffOptions | Schedule.Schedule<unknown, unknown>
  /** At most `maxRestarts` (default 5) restarts within `within` (default 60 s); one more and the child is `failed`. */
  readonly intensity?: {
    readonly maxRestarts?: number
    readonly within?: Duration.DurationInput
  }
  /**
   * When `true`, an incarnation stays `starting` until it calls {@link ready}; otherwise it is
   * `running` as soon as it starts. Default `false`.
   */
  readonly awaitReady?: boolean
  /**
   * When a child restarted more than the intensity allows: without this it stays `failed`; with
   * it the child is `failed-retrying` and is started again (its intensity window cleared) after
   * each delay of this schedule (driven by the Effect `Clock`), until the schedule ends (then
   * `failed`). See {@link slowRetry}.
   */
  readonly retryFailed?: Schedule.Schedule<unknown, unknown>
}

/**
 * One incarnation running a layer (an in-process node): builds it in the incarnation's scope,
 * reports {@link ready}, and keeps it until the child is stopped (its finalizers then run). A
 * failure to build is an exit like any other. Use with `awaitReady: true` to see `starting`
 * while the layer builds.
 *
 * ```ts
 * yield* sup.start({ name: "gate", awaitReady: true, run: NodeSupervisor.runLayer(GateNodeLive) })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const runLayer = <A, E, R>(layer: Layer.Layer<A, E, R>): Effect.Effect<never, E, R | Scope.Scope> =>
  Layer.build(layer).pipe(Effect.zipRight(ready), Effect.zipRight(Effect.never))

/**
 * A supervisor operation named a child wrongly.
 *
 * @since 0.1.0
 * @category errors
 */
export class SupervisorError extends Data.TaggedError("SupervisorError")<{
  readonly reason: "AlreadyStarted" | "UnknownChild"
  readonly child: string
  readonly message: string
}> {}

/**
 * A running supervisor; see the module documentation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Supervisor {
  /** Starts a child (a name whose child is `stopped` or `failed` may be started again with a new spec). */
  readonly start: <E, R>(
    spec: ChildSpec<E, R>
  ) => Effect.Effect<void, SupervisorError, Exclude<R, Scope.Scope | Incarnation>>
  /** Stops a child: interrupts it and waits at most `grace` (default 10 s) for its scope to close. */
  readonly stop: (name: string, grace?: Duration.DurationInput) => Effect.Effect<void, SupervisorError>
  /** Stops the child (if running) and starts a fresh incarnation at once, whatever its state. */
  readonly restart: (name: string, grace?: Duration.DurationInput) => Effect.Effect<void, SupervisorError>
  /**
   * As `restart`, and the child starts over: its restart count back to 0, its intensity window
   * and its retry schedule cleared (an operator's "try this node again now").
   */
  readonly reset: (name: string, grace?: Duration.DurationInput) => Effect.Effect<void, SupervisorError>
  /**
   * Stops the named children one after another in `order` (unknown names are skipped), then any
   * other child still active in reverse start order; at most `grace` for each.
   */
  readonly stopAll: (order: ReadonlyArray<string>, grace: Duration.DurationInput) => Effect.Effect<void>
  /** Every child, in start order. */
  readonly status: Effect.Effect<ReadonlyArray<ChildStatus>>
  /** The status of every child at subscription, then each child's new status whenever it changes. */
  readonly changes: Stream.Stream<ChildStatus>
}

interface State {
  readonly order: ReadonlyArray<string>
  readonly children: ReadonlyMap<string, Child>
  readonly changed: Option.Option<string>
}

const render = (child: Child): ChildStatus => ({
  name: child.name,
  state: child.state,
  restarts: child.restarts,
  startedAt: child.startedAt,
  ...(Option.isSome(child.lastExit) ? { lastExit: child.lastExit.value } : {}),
  ...(Option.isSome(child.pid) ? { pid: child.pid.value } : {})
})

const isActive = (state: ChildState) => state !== "stopped" && state !== "failed"

/**
 * Creates a supervisor living in the current scope. Closing that scope interrupts every child
 * still running, all at once: call `stopAll` first for an ordered, graceful stop.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Supervisor, never, Scope.Scope> = Effect.gen(function* () {
  const fibers = yield* FiberMap.make<string, void, never>()
  const ref = yield* SubscriptionRef.make<State>({ order: [], children: new Map(), changed: Option.none() })
  const registry = new Map<string, Registered>()
  const lock = yield* Effect.makeSemaphore(1)

  const put = (child: Child) =>
    SubscriptionRef.modify(ref, (s) => [
      s.children.get(child.name),
      {
        order: s.order.includes(child.name) ? s.order : [...s.order, child.name],
        children: new Map(s.children).set(child.name, child),
        changed: Option.some(child.name)
      }
    ]).pipe(Effect.flatMap((previous) => Metrics.recordChild(child.name, previous, child, true)))

  /** Updates a child's status, unless a newer launch has taken over. */
  const update = (name: string, generation: number, f: (c: Child) => Child) =>
    SubscriptionRef.modify(ref, (s): [readonly [Child, Child] | undefined, State] => {
      const child = s.children.get(name)
      if (child === undefined || child.generation !== generation) return [undefined, s]
      const next = f(child)
      return [
        [child, next],
        { order: s.order, children: new Map(s.children).set(name, next), changed: Option.some(name) }
      ]
    }).pipe(
      Effect.flatMap((change) => (change === undefined ? Effect.void : Metrics.recordChild(name, ...change)))
    )

  const current = (name: string) => Effect.map(SubscriptionRef.get(ref), (s) => s.children.get(name))

  const launch = (name: string, restarts: number) =>
    Effect.gen(function* () {
      const registered = registry.get(name)!
      const previous = yield* current(name)
      const generation = (previous?.generation ?? 0) + 1
      yield* put({
        name,
        state: "starting",
        restarts,
        startedAt: Option.none(),
        lastExit: previous?.lastExit ?? Option.none(),
        pid: Option.none(),
        generation
      })
      yield* FiberMap.run(fibers, name, loop(name, generation, registered, update))
    })

  const unknown = (name: string) =>
    new SupervisorError({ reason: "UnknownChild", child: name, message: `no child named ${name}` })

  const stopOne = (name: string, grace: Duration.DurationInput) =>
    Effect.gen(function* () {
      const child = yield* current(name)
      if (child === undefined) return yield* Effect.fail(unknown(name))
      // not active: nothing runs, or a stop already gave up waiting for it
      if (!isActive(child.state)) return
      const done = yield* FiberMap.remove(fibers, name).pipe(Effect.timeoutOption(grace))
      if (Option.isNone(done)) {
        const message = `did not stop within ${Duration.format(grace)}; left to finish in the background`
        yield* Effect.logWarning(`child ${name} ${message}`)
        yield* update(name, child.generation, (c) => ({
          ...c,
          state: "stopped",
          lastExit: Option.some(`stopped: ${message}`),
          pid: Option.none()
        }))
      }
    })

  const start = <E, R>(spec: ChildSpec<E, R>) =>
    Effect.gen(function* () {
      const existing = yield* current(spec.name)
      if (existing !== undefined && isActive(existing.state)) {
        return yield* Effect.fail(
          new SupervisorError({
            reason: "AlreadyStarted",
            child: spec.name,
            message: `a child named ${spec.name} is already ${existing.state}`
          })
        )
      }
      const context = yield* Effect.context<Exclude<R, Scope.Scope | Incarnation>>()
      registry.set(spec.name, {
        spec: spec as unknown as ChildSpec<unknown, never>,
        context: context as Context.Context<never>
      })
      yield* launch(spec.name, 0)
    }).pipe(lock.withPermits(1))

  const stop = (name: string, grace: Duration.DurationInput = "10 seconds") =>
    lock.withPermits(1)(stopOne(name, grace))

  const restart = (name: string, grace: Duration.DurationInput = "10 seconds") =>
    Effect.gen(function* () {
      yield* stopOne(name, grace)
      const child = yield* current(name)
      yield* launch(name, (child?.restarts ?? 0) + 1)
    }).pipe(lock.withPermits(1))

  const reset = (name: string, grace: Duration.DurationInput = "10 seconds") =>
    Effect.gen(function* () {
      yield* stopOne(name, grace)
      yield* launch(name, 0)
    }).pipe(lock.withPermits(1))

  const stopAll = (order: ReadonlyArray<string>, grace: Duration.DurationInput) =>
    Effect.gen(function* () {
      for (const name of order) yield* Effect.ignore(stopOne(name, grace))
      const { order: all } = yield* SubscriptionRef.get(ref)
      for (const name of [...all].reverse()) yield* Effect.ignore(stopOne(name, grace))
    }).pipe(lock.withPermits(1))

  const status = Effect.map(SubscriptionRef.get(ref), (s) =>
    s.order.flatMap((name) => {
      const child = s.children.get(name)
      return child === undefined ? [] : [render(child)]
    })
  )

  const changes = ref.changes.pipe(
    Stream.zipWithIndex,
    Stream.flatMap(([s, index]) => {
      if (index === 0) {
        return Stream.fromIterable(
          s.order.flatMap((n) => (s.children.has(n) ? [render(s.children.get(n)!)] : []))
        )
      }
      const child = Option.flatMap(s.changed, (n) => Option.fromNullable(s.children.get(n)))
      return Option.isSome(child) ? Stream.make(render(child.value)) : Stream.empty
    })
  )

  return { start, stop, restart, reset, stopAll, status, changes } satisfies Supervisor
})
