/**
 * Traces of a cluster: where the spans of the nodes that trace go.
 *
 * A node makes spans only when its config turns them on (`telemetry.traces`, or a server's own
 * `traces`); off (the default) it makes none at all. A traced node makes one span per client
 * command at its edge (the root of the request's trace), one per node-RPC call it makes
 * (`client`) and one per call it serves (`server`, the child of the caller's span, whose context
 * travels in the call frame), and one per repository flush that wrote; its fibers have the node's
 * tracer, so @effect/rpc's spans (stream rpcs), @effect/cluster's (entity messages) and the app's
 * own `Effect.withSpan` join the same traces. Their attributes: `hotaru.node`, `hotaru.peer`,
 * `hotaru.command.id`, `hotaru.command.name`, `hotaru.rpc`, `hotaru.outcome`, `hotaru.error`
 * (see docs/observability.md). The master's link is never traced.
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
import { Telemetry } from "./internal/observe/tracing.js"

export type { OtlpOptions } from "./internal/observe/telemetry.js"
export { Telemetry } from "./internal/observe/tracing.js"

/**
 * A `Telemetry` exporting over OTLP/HTTP with `@effect/opentelemetry`'s `OtlpTracer` (imported
 * only when this is built; a missing package fails with `MissingPackageError`). The spans left
 * are flushed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Internal.OtlpOptions
): Effect.Effect<Context.Tag.Service<Telemetry>, MissingPackageError, Scope.Scope> =>
  Effect.map(Internal.otlpTracer(options), (tracer) => ({ tracer }))

/**
 * `make` as a layer: `Telemetry.layer({ url: "http://127.0.0.1:4318/v1/traces" })`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Internal.OtlpOptions): Layer.Layer<Telemetry, MissingPackageError> =>
  Layer.scoped(Telemetry, make(options))

/**
 * A span the memory tracer recorded: an Effect `Tracer.Span` with its events.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemorySpan extends Tracer.Span {
  readonly events: ReadonlyArray<readonly [name: string, time: bigint, attributes: Record<string, unknown>]>
}

/**
 * The spans a memory `Telemetry` recorded, for tests.
 *
 * @since 0.1.0
 * @category tags
 */
export class MemoryTraces extends Context.Tag("hotaru/Telemetry/MemoryTraces")<
  MemoryTraces,
  {
    /** Every span made so far, in the order they started (the first `limit` only). */
    readonly spans: Effect.Effect<ReadonlyArray<MemorySpan>>
    /** Forget the spans made so far. */
    readonly clear: Effect.Effect<void>
  }
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
): Effect.Effect<{
  readonly telemetry: Context.Tag.Service<Telemetry>
  readonly traces: Context.Tag.Service<MemoryTraces>
}> =>
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

/**
 * Trace the node roles built by hand (`Root.layer`, `Remote.layer`, `NetServer.layer`, without
 * `Node.layer`) as node `node`: provide this to them, and a `Telemetry` to it. `Node.layer` does
 * the same by itself when the config's `telemetry.traces` is on. `sampleRatio` (0..1, default 1)
 * is the share of the traces starting on this node that are recorded (the config's
 * `telemetry.sampleRatio`); a span under a parent follows its parent's decision.
 *
 * ```ts
 * Root.layer({ name: "backend", host, port }).pipe(
 *   Layer.provide(Telemetry.layerNode("backend")),
 *   Layer.provide(Telemetry.layer({ url: "http://127.0.0.1:4318/v1/traces" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNode = (
  node: string,
  options?: { readonly sampleRatio?: number | undefined }
): Layer.Layer<never, never, Telemetry> =>
  // its output (the node's tracing) is read by the layers it is provided to, not by their types
  Internal.tracingLayerOf(node, options?.sampleRatio ?? 1)
