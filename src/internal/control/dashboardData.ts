/**
 * What the master's dashboard shows, gathered in one place: the `/status` document, each node's
 * message rate (from the change of its `messages` counter between two samples), and the recent
 * state changes of the supervised nodes (restarts, failures), kept in a bounded ring. The
 * dashboard's event stream sends {@link Snapshot}s encoded with their Schema.
 *
 * @internal
 */
import { Clock, Effect, Ref, Schema, type Scope, Stream } from "effect"
import { StatusReport } from "./statusReport.js"

/** One state change of a supervised node. */
export const DashboardEvent = Schema.Struct({
  at: Schema.Number,
  node: Schema.String,
  state: Schema.String,
  restarts: Schema.Number,
  lastExit: Schema.NullOr(Schema.String)
})
export type DashboardEvent = typeof DashboardEvent.Type

/** The document of one dashboard refresh. */
export const Snapshot = Schema.Struct({
  at: Schema.Number,
  status: StatusReport,
  /** Each node's parents in the config (its `remoteport`): the node tree. */
  parents: Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) }),
  /** Request frames per second, by node, over the last sample interval. */
  rates: Schema.Record({ key: Schema.String, value: Schema.Number }),
  /** The latest state changes, newest first. */
  events: Schema.Array(DashboardEvent)
})
export type Snapshot = typeof Snapshot.Type

/**
 * What the master's dashboard reads: one snapshot per refresh (the master makes it).
 *
 * @since 0.1.0
 * @category models
 */
export interface Source {
  readonly snapshot: Effect.Effect<Snapshot>
}

/** What the supervisor says of a child when it changes (`NodeSupervisor.ChildStatus`). */
interface ChildChange {
  readonly name: string
  readonly state: string
  readonly restarts: number
  readonly lastExit?: string | undefined
}

/** How many state changes are kept. */
const maxEvents = 50

/** The dashboard's data over the master's `status` and its supervisor's `changes`. */
export const make = (input: {
  readonly status: Effect.Effect<StatusReport>
  readonly changes: Stream.Stream<ChildChange>
  readonly parents: Readonly<Record<string, ReadonlyArray<string>>>
}): Effect.Effect<Source, never, Scope.Scope> =>
  Effect.gen(function* () {
    const events = yield* Ref.make<ReadonlyArray<DashboardEvent>>([])
    const last = yield* Ref.make(new Map<string, string>())
    yield* input.changes.pipe(
      Stream.runForEach((c) =>
        Effect.gen(function* () {
          const before = (yield* Ref.get(last)).get(c.name)
          if (before === c.state) return
          yield* Ref.update(last, (m) => new Map([...m, [c.name, c.state]]))
          // the first start of a node is no news: restarts and failures are
          if (c.restarts === 0 && (c.state === "starting" || c.state === "running")) return
          const at = yield* Clock.currentTimeMillis
          const event = {
            at,
            node: c.name,
            state: c.state,
            restarts: c.restarts,
            lastExit: c.lastExit ?? null
          }
          yield* Ref.update(events, (xs) => [event, ...xs].slice(0, maxEvents))
        })
      ),
      Effect.forkScoped
    )

    // the previous sample of every node's counter, for the rates
    const sample = yield* Ref.make<{ readonly at: number; readonly messages: ReadonlyMap<string, number> }>({
      at: 0,
      messages: new Map()
    })
    const rates = yield* Ref.make<Record<string, number>>({})
    const snapshot = Effect.gen(function* () {
      const status = yield* input.status
      const at = yield* Clock.currentTimeMillis
      const previous = yield* Ref.get(sample)
      const elapsed = at - previous.at
      // several viewers share the samples: a rate is measured over at least a second
      if (elapsed >= 1000) {
        const next: Record<string, number> = {}
        for (const node of status.nodes) {
          const before = previous.messages.get(node.name)
          next[node.name] =
            before === undefined || node.messages < before
              ? 0
              : Math.round(((node.messages - before) * 10_000) / elapsed) / 10
        }
        yield* Ref.set(rates, next)
        yield* Ref.set(sample, { at, messages: new Map(status.nodes.map((n) => [n.name, n.messages])) })
      }
      return {
        at,
        status,
        parents: input.parents,
        rates: yield* Ref.get(rates),
        events: yield* Ref.get(events)
      }
    })
    return { snapshot }
  })

/** A snapshot as the JSON text the event stream sends. */
export const encode = (snapshot: Snapshot): Effect.Effect<string> =>
  Effect.map(Schema.encode(Snapshot)(snapshot).pipe(Effect.orDie), (doc) => JSON.stringify(doc))
