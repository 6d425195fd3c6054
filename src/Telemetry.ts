/**
 * Traces of a cluster: where the spans of the nodes that trace go.
 *
 * A node makes spans only when its config turns them on (`telemetry.traces`, or a server's own
 * `traces`); off (the default) it makes none at all. A traced node makes one span per client
 * command at its edge (the root of the request's trace), one per node-RPC call it makes
 * (`client`) and one per call it serves (`server`, the child of the caller's span, whose context
 * travels in the call frame). Their attributes: `hotaru.node`, `hotaru.peer`,
 * `hotaru.command.id`, `hotaru.command.name`, `hotaru.rpc`, `hotaru.outcome`, `hotaru.error`
 * (see docs/observability.md).
 *
 * The spans go to the `Telemetry` service when one is provided (`layer`, `layerMemory`), else
 * to the OTLP collector the config names (`telemetry.otlp`), else to the program's Effect
 * `Tracer`.
 *
 * ```ts
 * // a test: three nodes in one process, their spans in memory
 * const traces = yield* Telemetry.MemoryTraces
 * const cluster = yield* TestCluster.make({ config }) // config: { "telemetry": { "traces": true }, … }
 * …
 * const spans = yield* traces.spans
 * // ….pipe(Effect.provide(Telemetry.layerMemory))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type * as Tracer from "effect/Tracer"
import type { MissingPackageError } from "./internal/config/optionalPackage.js"
import * as Internal from "./internal/observe/telemetry.js"
import { Telemetry as TelemetryTag } from "./internal/observe/tracing.js"

/**
 * Where the spans of traced nodes go: a `Tracer`.
 *
 * @since 0.1.0
 * @category tags
 */
export const Telemetry: Context.Tag<Telemetry, Telemetry.Service> = TelemetryTag

/**
 * @since 0.1.0
 * @category tags
 */
export type Telemetry = TelemetryTag

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace Telemetry {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly tracer: Tracer.Tracer
  }
}

/**
 * How spans are exported over OTLP/HTTP (JSON): `url` is the collector's traces URL, e.g.
 * `http://127.0.0.1:4318/v1/traces`.
 *
 * @since 0.1.0
 * @category models
 */
export type OtlpOptions = Internal.OtlpOptions

/**
 * A `Telemetry` exporting over OTLP/HTTP with `@effect/opentelemetry`'s `OtlpTracer` (imported
 * only when this is built; a missing package fails with `MissingPackageError`). The spans left
 * are flushed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: OtlpOptions
): Effect.Effect<Telemetry.Service, MissingPackageError, Scope.Scope> =>
  Effect.map(Internal.otlpTracer(options), (tracer) => ({ tracer }))

/**
 * `make` as a layer: `Telemetry.layer({ url: "http://127.0.0.1:4318/v1/traces" })`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: OtlpOptions): Layer.Layer<Telemetry, MissingPackageError> =>
  Layer.scoped(Telemetry, make(options))

/**
 * A span the memory tracer recorded (an Effect `Tracer.Span` with its attributes and events).
 *
 * @since 0.1.0
 * @category models
 */
export type MemorySpan = Internal.MemorySpan

/**
 * The spans a memory `Telemetry` recorded, for tests.
 *
 * @since 0.1.0
 * @category tags
 */
export class MemoryTraces extends Context.Tag("hotaru/Telemetry/MemoryTraces")<
  MemoryTraces,
  Internal.MemoryTraces
>() {}

/**
 * A `Telemetry` keeping its spans in memory (the first `limit`, default 10 000), read with
 * `MemoryTraces`. Span ids come from a counter.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (
  limit?: number
): Effect.Effect<{ readonly telemetry: Telemetry.Service; readonly traces: Internal.MemoryTraces }> =>
  Effect.sync(() => {
    const { tracer, traces } = Internal.memoryTracer(limit)
    return { telemetry: { tracer }, traces }
  })

/**
 * `makeMemory` as a layer of both services.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<Telemetry | MemoryTraces> = Layer.effectContext(
  Effect.map(makeMemory(), ({ telemetry, traces }) =>
    Context.make(Telemetry, telemetry).pipe(Context.add(MemoryTraces, traces))
  )
)
