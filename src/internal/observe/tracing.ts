/**
 * Traces: the spans hotaru makes itself (a client command at the edge, each node-RPC call on
 * both sides) and the span context a fast call frame carries between nodes.
 *
 * A node traces only when `Node.layer` gives it a `NodeTracing` (config `telemetry.traces`);
 * without one, the edge and the RPC paths make no span at all: they test one field that is
 * undefined. Spans are made straight on the node's `Tracer` (`Tracer.span`), not with
 * `Effect.withSpan`, because the hot paths run on plain callbacks without a fiber; a handler
 * fiber gets the span as its `ParentSpan` and the node's tracer, so a handler's own
 * `Effect.withSpan` nests below hotaru's.
 *
 * The span context on the wire is `[traceId, spanId, sampled]` (32 and 16 lower-case hex
 * digits, a boolean): anything else is ignored, so a peer cannot make a node's span the child of
 * garbage. Client connections never carry one: a command's span is always a trace's root.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

/**
 * Where the spans of traced nodes go: a `Tracer` (OTLP, in memory, or any other). Provided by
 * `Telemetry.layer` / `Telemetry.layerMemory` (the public `Telemetry` module re-exports it);
 * `Node.layer` reads it when the node traces.
 *
 * @since 0.1.0
 * @category tags
 */
export class Telemetry extends Context.Tag("hotaru/Telemetry")<
  Telemetry,
  { readonly tracer: Tracer.Tracer }
>() {}

/** The tracing of one node: present only when the node traces. */
export interface Tracing {
  readonly node: string
  readonly tracer: Tracer.Tracer
  readonly clock: Clock.Clock
}

/** The tracing of the node being built (absent: the node makes no spans). */
export class NodeTracing extends Context.Tag("hotaru/internal/NodeTracing")<NodeTracing, Tracing>() {}

/** The tracing of the node being built, or undefined (read once, when a node role is built). */
export const current: Effect.Effect<Tracing | undefined> = Effect.map(
  Effect.serviceOption(NodeTracing),
  Option.getOrUndefined
)

/** Span attribute names (also in docs/observability.md). */
export const ATTR_NODE = "hotaru.node"
export const ATTR_PEER = "hotaru.peer"
export const ATTR_COMMAND_ID = "hotaru.command.id"
export const ATTR_COMMAND_NAME = "hotaru.command.name"
export const ATTR_RPC = "hotaru.rpc"
export const ATTR_OUTCOME = "hotaru.outcome"
export const ATTR_ERROR = "hotaru.error"
export const ATTR_TABLE = "hotaru.table"
export const ATTR_WRITTEN = "hotaru.flush.written"

/** Start a span of `tracing`'s node now, under `parent` (undefined: a trace's root). */
export const start = (
  tracing: Tracing,
  name: string,
  kind: Tracer.SpanKind,
  parent: Tracer.AnySpan | undefined
): Tracer.Span => {
  const span = tracing.tracer.span(
    name,
    parent === undefined ? Option.none() : Option.some(parent),
    Context.empty(),
    [],
    tracing.clock.unsafeCurrentTimeNanos(),
    kind
  )
  span.attribute(ATTR_NODE, tracing.node)
  return span
}

/** The outcome attribute of an `Exit`: `success`, `failure`, `defect` or `interrupted`. */
export const outcomeOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (exit._tag === "Success") return "success"
  if (Cause.isInterruptedOnly(exit.cause)) return "interrupted"
  return Cause.isFailure(exit.cause) ? "failure" : "defect"
}

/** The `_tag` of a failure, if it has one. */
const errorTag = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (exit._tag === "Success") return undefined
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return undefined
  const e = failure.value
  return typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : undefined
}

/** End `span` now with `exit` (its outcome, and a failure's tag, as attributes). */
export const end = (tracing: Tracing, span: Tracer.Span, exit: Exit.Exit<unknown, unknown>): void => {
  if (span.status._tag === "Ended") return
  span.attribute(ATTR_OUTCOME, outcomeOf(exit))
  const tag = errorTag(exit)
  if (tag !== undefined) span.attribute(ATTR_ERROR, tag)
  span.end(tracing.clock.unsafeCurrentTimeNanos(), exit)
}

/** End `span` with a fixed `outcome` (a request refused before any handler ran). */
export const endRefused = (
  tracing: Tracing,
  span: Tracer.Span,
  outcome: string,
  exit: Exit.Exit<unknown, unknown>
): void => {
  span.attribute(ATTR_OUTCOME, outcome)
  span.end(tracing.clock.unsafeCurrentTimeNanos(), exit)
}

/** Run `effect` (a handler) under `span`, with the node's tracer for its own spans. */
export const within = <A, E, R>(
  tracing: Tracing,
  span: Tracer.AnySpan,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => Effect.withTracer(Effect.withParentSpan(effect, span), tracing.tracer)

/**
 * Run `effect` and, when `keep(exit)` says so, record its span afterwards (from when it started,
 * under the fiber's span): for work that is mostly idle, such as a background flush that found
 * nothing to write, which would otherwise be a span every interval.
 */
export const recordIf = <A, E, R>(
  tracing: Tracing,
  name: string,
  effect: Effect.Effect<A, E, R>,
  keep: (exit: Exit.Exit<A, E>) => Record<string, unknown> | undefined
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime<A, E, R>((fiber) => {
    const parent = fiber.currentSpan
    const startTime = tracing.clock.unsafeCurrentTimeNanos()
    return Effect.onExit(effect, (exit) =>
      Effect.sync(() => {
        const attributes = keep(exit)
        if (attributes === undefined) return
        const span = tracing.tracer.span(
          name,
          parent === undefined ? Option.none() : Option.some(parent),
          Context.empty(),
          [],
          startTime,
          "internal"
        )
        span.attribute(ATTR_NODE, tracing.node)
        for (const key of Object.keys(attributes)) span.attribute(key, attributes[key])
        end(tracing, span, exit)
      })
    )
  })

// ---------------------------------------------------------------------------
// The span context on the wire
// ---------------------------------------------------------------------------

/** The span context a call frame carries: `[traceId, spanId, sampled]`. */
export type WireContext = readonly [traceId: string, spanId: string, sampled: boolean]

/** The wire form of `span`'s context. */
export const toWire = (span: Tracer.AnySpan): WireContext => [span.traceId, span.spanId, span.sampled]

const TRACE_ID = /^[0-9a-f]{32}$/
const SPAN_ID = /^[0-9a-f]{16}$/
const ZERO_TRACE = "0".repeat(32)
const ZERO_SPAN = "0".repeat(16)

/**
 * The remote parent a peer's call frame names, or undefined when it names none or its slot is
 * not a valid context (wrong shape, lengths, case or digits; the all-zero ids W3C calls invalid).
 */
export const fromWire = (u: unknown): Tracer.ExternalSpan | undefined => {
  if (!Array.isArray(u) || u.length !== 3) return undefined
  const [traceId, spanId, sampled] = u as Array<unknown>
  if (typeof traceId !== "string" || typeof spanId !== "string" || typeof sampled !== "boolean") {
    return undefined
  }
  if (!TRACE_ID.test(traceId) || !SPAN_ID.test(spanId) || traceId === ZERO_TRACE || spanId === ZERO_SPAN) {
    return undefined
  }
  return Tracer.externalSpan({ traceId, spanId, sampled })
}
