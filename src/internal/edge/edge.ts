/**
 * What every piece of one client edge shares: its settings and router, the runtime its plain-code
 * callbacks run Effects in, the open connections, and the counters with their rate-limited logs
 * (a client can trigger them: one line per kind and window, with the count of what was left out).
 */
import {
  type Cause,
  type Clock,
  Effect,
  type Fiber,
  FiberRef,
  FiberRefs,
  LogLevel,
  Metric,
  MetricKey,
  MetricLabel,
  Runtime
} from "effect"
import { current as currentTracing, type Tracing } from "../observe/tracing.js"
import * as LogLimit from "../wire/logLimit.js"
import type { ConnectionState } from "./connection.js"
import type { Settings } from "./limits.js"
import type { Router } from "./router.js"
import type { Connection, Stats } from "./service.js"

/** The counted events of `Stats`. */
export type Counter = Exclude<keyof Stats, "connections" | "peakBuffered" | "parked">

/**
 * The events of the client edge, by `node` and `event` (a `NetServer.Stats` counter: accepted,
 * refusedPerIp, frameViolations, slowConsumers, ...): the same counts as `stats`, as an Effect
 * Metric.
 */
const edgeEventsKey = MetricKey.counter("hotaru_edge_events", {
  description: "client edge events, by node and event (see NetServer.Stats)",
  incremental: true
})
export const edgeEvents = Metric.fromMetricKey(edgeEventsKey)

/**
 * The counter of `event` on `node`, its labels in its key: an update of a `Metric.tagged` metric
 * builds and hashes a new key each time (its label array is new, Effect's hook cache misses),
 * about 2 µs per request on this path.
 */
const edgeEvent = (node: string, event: string) =>
  Metric.fromMetricKey(
    MetricKey.taggedWithLabels(edgeEventsKey, [
      MetricLabel.make("node", node),
      MetricLabel.make("event", event)
    ])
  )

/** The shared state of one edge (mutable fields are the edge's own counters). */
export interface Edge {
  readonly settings: Settings
  readonly router: Router
  readonly clock: Clock.Clock
  readonly runtime: Runtime.Runtime<never>
  /** Run an Effect from a plain callback, in the edge's runtime. */
  readonly runPlain: (effect: Effect.Effect<unknown, unknown>) => Fiber.RuntimeFiber<unknown, unknown>
  /** Whether debug logs are on (then each call is logged). */
  readonly debugEnabled: boolean
  /** The node's tracing (undefined: no command spans). */
  readonly tracing: Tracing | undefined
  /** The open connections by id. */
  readonly states: Map<number, ConnectionState>
  /** Connections open per counted IP address. */
  readonly perIp: Map<string, number>
  readonly counters: Record<Counter, number>
  /** The next connection id; the largest queue seen (`Stats.peakBuffered`). */
  nextId: number
  peakBuffered: number
  /** The `{node, conn}` log annotations of a connection. */
  readonly annotate: (info: Connection) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Count an event (in `stats` and the `hotaru_edge_events` metric). */
  readonly count: (counter: Counter) => number
  /** Count an event and log it (rate-limited per kind). */
  readonly report: (
    counter: Counter,
    info: Connection | undefined,
    level: "warning" | "error",
    message: () => string,
    cause?: Cause.Cause<unknown>
  ) => void
  /** Log how many lines each kind left out in the window that ends now. */
  readonly flushLogs: () => void
}

/** The edge of one listener (or of several sharing their connections). */
export const make = (settings: Settings, router: Router): Effect.Effect<Edge> =>
  Effect.gen(function* () {
    const node = settings.node
    const clock = yield* Effect.clock
    const runtime = yield* Effect.runtime<never>()
    const tracing = yield* currentTracing
    const runPlain = Runtime.runFork(runtime)
    const logLimit = LogLimit.make({ clock })
    const annotate = (info: Connection) => Effect.annotateLogs({ node, conn: info.id })
    const counters: Record<Counter, number> = {
      accepted: 0,
      refusedMaxConnections: 0,
      refusedPerIp: 0,
      frameViolations: 0,
      frameTimeouts: 0,
      idleTimeouts: 0,
      slowConsumers: 0,
      requests: 0,
      badRequests: 0,
      unknownCommands: 0,
      handlerFailures: 0,
      handlerDefects: 0,
      edgeDefects: 0,
      sessionsParked: 0,
      resumes: 0,
      resumesRefused: 0
    }
    const metrics = Object.fromEntries(
      Object.keys(counters).map((counter) => [counter, edgeEvent(node, counter)])
    ) as Record<Counter, Metric.Metric.Counter<number>>
    const countEvent = (counter: Counter) => {
      metrics[counter].unsafeUpdate(1, [])
      return ++counters[counter]
    }
    const report: Edge["report"] = (counter, info, level, message, cause) => {
      const count = countEvent(counter)
      logLimit.report(counter, (suppressed) => {
        const text = `${message()} [${counter} #${count}${suppressed > 0 ? `, ${suppressed} similar not logged` : ""}]`
        const log =
          level === "error"
            ? cause === undefined
              ? Effect.logError(text)
              : Effect.logError(text, cause)
            : Effect.logWarning(text)
        runPlain(info === undefined ? log.pipe(Effect.annotateLogs({ node })) : log.pipe(annotate(info)))
      })
    }
    const flushLogs = () =>
      logLimit.flush((key, suppressed) =>
        runPlain(
          Effect.logWarning(`${suppressed} more ${key} not logged in the last window`).pipe(
            Effect.annotateLogs({ node })
          )
        )
      )
    return {
      settings,
      router,
      clock,
      runtime,
      runPlain,
      debugEnabled: LogLevel.greaterThanEqual(
        LogLevel.Debug,
        FiberRefs.getOrDefault(runtime.fiberRefs, FiberRef.currentMinimumLogLevel)
      ),
      tracing,
      states: new Map(),
      perIp: new Map(),
      counters,
      nextId: 0,
      peakBuffered: 0,
      annotate,
      count: countEvent,
      report,
      flushLogs
    }
  })
