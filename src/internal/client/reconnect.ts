/**
 * The machinery of a reconnecting client (`Client.reconnecting`): one fiber that opens a
 * connection, runs the caller's `onConnect` on it (a login), publishes it, waits for it to close,
 * and opens the next one after a jittered pause, retrying failed attempts on the caller's
 * schedule. Generic over the connection so it needs nothing of the public `Client` module.
 *
 * @internal
 */
import {
  Deferred,
  Duration,
  Effect,
  Option,
  PubSub,
  Random,
  Schedule,
  type Scope,
  Stream,
  SubscriptionRef
} from "effect"

/** What the reconnector needs of a connection. */
export interface Connection {
  readonly closed: Effect.Effect<void>
}

/** A change of the reconnecting client's connection. */
export type Event =
  | { readonly _tag: "Connected"; readonly connection: number }
  | { readonly _tag: "Resumed"; readonly connection: number }
  | { readonly _tag: "Disconnected"; readonly connection: number }
  | { readonly _tag: "GaveUp"; readonly error: unknown }

/** The live side of a reconnector. */
export interface Reconnector<C> {
  /** The connection, once there is one (waits); `Option.none()` when the schedule gave up. */
  readonly current: Effect.Effect<Option.Option<C>>
  /** Every connection, as it comes (the current one first). */
  readonly connections: Stream.Stream<C>
  /** Connected / Disconnected / GaveUp: the last {@link replayed} events, then every new one. */
  readonly events: Stream.Stream<Event>
}

/** Failed attempts: exponential from 100 ms, at most 5 s apart, jittered, forever. */
export const defaultSchedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.jittered
)

/** How many past events a new subscriber of `events` gets first. */
export const replayed = 16

/** How long after a drop the first new attempt waits: base × [0.5, 1.5). */
const pauseAfterDrop = (base: Duration.Duration) =>
  Effect.flatMap(Random.next, (r) => Effect.sleep(Duration.times(base, 0.5 + r)))

/** Start the reconnecting fiber in the scope. */
export const make = <C extends Connection, E, E2>(input: {
  readonly open: Effect.Effect<C, E, Scope.Scope>
  /** Log in, or resume: true when the session was resumed. */
  readonly onConnect: (connection: C) => Effect.Effect<boolean, E2>
  /** The schedule gave up. */
  readonly onGiveUp: Effect.Effect<void>
  readonly schedule: Schedule.Schedule<unknown, E | E2>
  readonly pause: Duration.Duration
}): Effect.Effect<Reconnector<C>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const state = yield* SubscriptionRef.make<Option.Option<C>>(Option.none())
    const events = yield* PubSub.unbounded<Event>({ replay: replayed })
    const gaveUp = yield* Deferred.make<void>()
    let count = 0

    const once = Effect.scoped(
      Effect.gen(function* () {
        const connection = yield* input.open
        const resumed = yield* input.onConnect(connection)
        count += 1
        const n = count
        yield* SubscriptionRef.set(state, Option.some(connection))
        yield* PubSub.publish(events, { _tag: resumed ? "Resumed" : "Connected", connection: n })
        yield* connection.closed
        yield* SubscriptionRef.set(state, Option.none())
        yield* PubSub.publish(events, { _tag: "Disconnected", connection: n })
      })
    )
    const loop = Effect.retry(once, input.schedule).pipe(
      Effect.zipRight(pauseAfterDrop(input.pause)),
      Effect.forever,
      Effect.catchAll((error) =>
        Effect.zipRight(
          PubSub.publish(events, { _tag: "GaveUp", error }),
          Effect.zipRight(input.onGiveUp, Deferred.succeed(gaveUp, undefined))
        )
      )
    )
    yield* Effect.forkScoped(loop)

    const connections = state.changes.pipe(Stream.filterMap((c) => c))
    const current = Effect.raceFirst(
      Stream.runHead(connections),
      Effect.as(Deferred.await(gaveUp), Option.none<C>())
    )
    return {
      current,
      connections,
      events: Stream.fromPubSub(events)
    }
  })
