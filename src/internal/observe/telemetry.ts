/**
 * Where spans go: an OTLP/HTTP exporter (`@effect/opentelemetry`'s `OtlpTracer`, imported only
 * when a node is configured to export), an in-memory recorder for tests, and the choice a node
 * makes at start (`nodeTracing`): no tracing at all unless its config turns traces on.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import { importOptional, type MissingPackageError } from "../config/optionalPackage.js"
import * as Sampler from "./sampler.js"
import { NodeTracing, Telemetry, type Tracing } from "./tracing.js"

/**
 * How spans are exported over OTLP/HTTP (JSON).
 *
 * @since 0.1.0
 * @category models
 */
export interface OtlpOptions {
  /** The collector's traces URL, e.g. `http://127.0.0.1:4318/v1/traces`. */
  readonly url: string
  /** The `service.name` of the resource (default `hotaru`). */
  readonly serviceName?: string | undefined
  /** More resource attributes (a node adds `service.instance.id`: its name). */
  readonly attributes?: Record<string, unknown> | undefined
}

/** A tracer exporting to `options.url` until the scope closes (then it flushes). */
export const otlpTracer = (
  options: OtlpOptions
): Effect.Effect<Tracer.Tracer, MissingPackageError, Scope.Scope> =>
  Effect.gen(function* () {
    // the OTLP modules alone: they need @effect/platform only, not the OpenTelemetry SDK
    const [OtlpTracer, OtlpSerialization] = yield* importOptional(
      "@effect/opentelemetry",
      "OTLP trace export (telemetry.otlp)",
      () =>
        Promise.all([
          import("@effect/opentelemetry/OtlpTracer"),
          import("@effect/opentelemetry/OtlpSerialization")
        ])
    )
    const fetch = yield* Effect.promise(() => import("@effect/platform/FetchHttpClient"))
    return yield* OtlpTracer.make({
      url: options.url,
      resource: {
        serviceName: options.serviceName ?? "hotaru",
        ...(options.attributes === undefined ? {} : { attributes: options.attributes })
      }
    }).pipe(Effect.provide(Layer.merge(fetch.layer, OtlpSerialization.layerJson)))
  })

// ---------------------------------------------------------------------------
// In memory
// ---------------------------------------------------------------------------

/** A span the memory tracer recorded. */
export class MemorySpan implements Tracer.Span {
  readonly _tag = "Span"
  status: Tracer.SpanStatus
  readonly attributes = new Map<string, unknown>()
  readonly events: Array<readonly [name: string, time: bigint, attributes: Record<string, unknown>]> = []
  readonly links: Array<Tracer.SpanLink>
  constructor(
    readonly name: string,
    readonly traceId: string,
    readonly spanId: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind,
    readonly sampled: boolean
  ) {
    this.status = { _tag: "Started", startTime }
    this.links = [...links]
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.status._tag === "Ended") return
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
  }
  attribute(key: string, value: unknown): void {
    this.attributes.set(key, value)
  }
  event(name: string, time: bigint, attributes?: Record<string, unknown>): void {
    this.events.push([name, time, attributes ?? {}])
  }
  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    this.links.push(...links)
  }
}

/** The recorder of a memory tracer. */
export interface MemoryTraces {
  /** Every span made so far, in the order they started (the first `limit` only). */
  readonly spans: Effect.Effect<ReadonlyArray<MemorySpan>>
  /** Forget the spans made so far. */
  readonly clear: Effect.Effect<void>
}

const hex = (n: number, digits: number): string => n.toString(16).padStart(digits, "0")

/**
 * A tracer keeping its spans in memory (at most `limit`, default 10 000), with ids from a
 * counter: deterministic, never all zeros.
 */
export const memoryTracer = (
  limit = 10_000
): { readonly tracer: Tracer.Tracer; readonly traces: MemoryTraces } => {
  let recorded: Array<MemorySpan> = []
  let next = 0
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      next++
      const traceId = Option.isSome(parent) ? parent.value.traceId : hex(next, 32)
      const sampled = Option.isSome(parent) ? parent.value.sampled : true
      const span = new MemorySpan(
        name,
        traceId,
        hex(next, 16),
        parent,
        context,
        links,
        startTime,
        kind,
        sampled
      )
      if (recorded.length < limit) recorded.push(span)
      return span
    },
    context: (f) => f()
  })
  return {
    tracer,
    traces: {
      spans: Effect.sync(() => [...recorded]),
      clear: Effect.sync(() => {
        recorded = []
      })
    }
  }
}

// ---------------------------------------------------------------------------
// A node's choice
// ---------------------------------------------------------------------------

/** What a node's config (and its start options) say about its traces. */
export interface NodeTelemetry {
  readonly node: string
  /** Whether the node makes spans (default false). */
  readonly traces: boolean
  /** Export them over OTLP/HTTP to this URL (when no `Telemetry` is provided). */
  readonly otlp?: string | undefined
  readonly serviceName?: string | undefined
  /** The share of the traces starting on this node that are recorded, 0..1 (default 1). */
  readonly sampleRatio?: number | undefined
}

/**
 * The tracing of a node, or undefined when it does not trace (then nothing is imported or
 * built). Its spans go to the `Telemetry` in context if any, else to the OTLP exporter its
 * config names, else to the running program's Effect `Tracer`; always behind the node's head
 * sampler (`sampler.ts`).
 */
export const nodeTracing = (
  options: NodeTelemetry
): Effect.Effect<Tracing | undefined, MissingPackageError, Scope.Scope> =>
  Effect.gen(function* () {
    if (!options.traces) return undefined
    const clock = yield* Effect.clock
    const given = yield* Effect.serviceOption(Telemetry)
    const tracer = Option.isSome(given)
      ? given.value.tracer
      : options.otlp === undefined
        ? yield* Effect.tracer
        : yield* otlpTracer({
            url: options.otlp,
            serviceName: options.serviceName,
            attributes: { "service.instance.id": options.node }
          })
    return { node: options.node, tracer: yield* Sampler.make(tracer, options.sampleRatio ?? 1), clock }
  })

/**
 * What a traced node's layers are built with: its `NodeTracing` (read by the edge and the RPC
 * endpoints when they are built) and its tracer on every fiber (the app's own spans and
 * @effect/cluster's go there too).
 */
export const tracingLayer = (tracing: Tracing): Layer.Layer<NodeTracing> =>
  Layer.merge(Layer.succeed(NodeTracing, tracing), Layer.setTracer(tracing.tracer))

/**
 * `tracingLayer` for node `node`, its spans to the `Telemetry` in context, behind a head sampler
 * of `sampleRatio` (default 1).
 */
export const tracingLayerOf = (node: string, sampleRatio = 1): Layer.Layer<NodeTracing, never, Telemetry> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const { tracer } = yield* Telemetry
      return tracingLayer({
        node,
        tracer: yield* Sampler.make(tracer, sampleRatio),
        clock: yield* Effect.clock
      })
    })
  )
