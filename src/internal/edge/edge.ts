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
 * refusedPerIp, frameViolations, slowConsumers, ...): the one place they are counted. `stats`
 * (`NetServer.Stats`) reads them back, and the master's `/status` reads `requests` (its
 * `messages`), so those numbers are the ones `/metrics` shows.
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

/** The count of `event` on `node` in the process's registry now (what `/metrics` shows). */
export const eventTotal = (node: string, event: Counter): number =>
  edgeEvent(node, event).unsafeValue([]).count

/** The counted events, in `NetServer.Stats` order. */
const counterNames: ReadonlyArray<Counter> = [
  "accepted",
  "refusedMaxConnections",
  "refusedPerIp",
  "frameViolations",
  "frameTimeouts",
  "idleTimeouts",
  "slowConsumers",
  "requests",
  "badRequests",
  "unknownCommands",
  "handlerFailures",
  "handlerDefects",
  "requestTimeouts",
  "edgeDefects",
  "sessionsParked",
  "resumes",
  "resumesRefused"
]

/** The shared state of one edge (mutable fields: its ids and its largest queue). */
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
  /** The counts of this edge since it was built (the `hotaru_edge_events` metric less its value then). */
  readonly counters: () => Record<Counter, number>
  /** The next connection id; the largest queue seen (`Stats.peakBuffered`). */
  nextId: number
  peakBuffered: number
  /** Called when a connection closes or a session parks or ends (the drain's wait), if set. */
  changed: (() => void) | undefined
  /** The `{node, conn}` log annotations of a connection. */
  readonly annotate: (info: Connection) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Count an event (in the `hotaru_edge_events` metric, which `stats` reads). */
  readonly count: (counter: Counter) => void
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
    // each counter built once from its full key (a per-message update is one hook update), and
    // its value when this edge started: `stats` counts from there (a node restarted in the same
    // process, or a test's second server of one name, starts at 0 as before)
    const metrics = Object.fromEntries(counterNames.map((c) => [c, edgeEvent(node, c)])) as Record<
      Counter,
      Metric.Metric.Counter<number>
    >
    const base = Object.fromEntries(counterNames.map((c) => [c, metrics[c].unsafeValue([]).count])) as Record<
      Counter,
      number
    >
    const countEvent = (counter: Counter): void => {
      metrics[counter].unsafeUpdate(1, [])
    }
    const sinceStart = (counter: Counter): number => metrics[counter].unsafeValue([]).count - base[counter]
    const counters = () =>
      Object.fromEntries(counterNames.map((c) => [c, sinceStart(c)])) as Record<Counter, number>
    const report: Edge["report"] = (counter, info, level, message, cause) => {
      countEvent(counter)
      const count = sinceStart(counter)
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
      changed: undefined,
      annotate,
      count: countEvent,
      report,
      flushLogs
    }
  })
