/**
 * The head sampler of a traced node: a `Tracer` in front of the node's own that decides once per
 * trace, at its root, whether the trace is recorded, and makes every span under an unsampled
 * parent unsampled too (parent-based, as OpenTelemetry's `parentbased_traceidratio`).
 *
 * Effect v3 itself never looks at `sampled` (`Effect.withSpan` asks the fiber's tracer for a span
 * whatever its parent says), and `@effect/opentelemetry`'s `OtlpTracer` marks every span sampled
 * and exports every span that ends. So the decision is made here, before the node's tracer is
 * asked: an unsampled span never reaches it (nothing recorded, nothing exported). An unsampled
 * span is a small object whose methods do nothing and whose status is already `Ended` (so
 * `Tracing.end` returns at once); it keeps valid ids, so its context still crosses a node link
 * (`[traceId, spanId, false]` in the call frame) and the callee follows the decision. Its
 * children share its ids: nothing of them is ever exported.
 *
 * The decision draws from a PCG generator seeded from the Effect `Random` when the node is built
 * (a test with a seeded `Random` gets the same decisions every run); the hot paths draw from it
 * without a fiber.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Tracer from "effect/Tracer"
import { PCGRandom } from "effect/Utils"

const ENDED: Tracer.SpanStatus = { _tag: "Ended", startTime: 0n, endTime: 0n, exit: Exit.void }
const NO_ATTRIBUTES: ReadonlyMap<string, unknown> = new Map()
const NO_LINKS: ReadonlyArray<Tracer.SpanLink> = []

/** A span of a trace that is not recorded: valid ids, no effect. */
export class UnsampledSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly sampled = false
  readonly status = ENDED
  readonly attributes = NO_ATTRIBUTES
  readonly links = NO_LINKS
  constructor(
    readonly name: string,
    readonly traceId: string,
    readonly spanId: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    readonly kind: Tracer.SpanKind
  ) {}
  end(): void {}
  attribute(): void {}
  event(): void {}
  addLinks(): void {}
}

const ZERO_TRACE = "0".repeat(32)
const ZERO_SPAN = "0".repeat(16)

/** 8 hex digits from `prng`. */
const hex8 = (prng: PCGRandom): string => prng.integer(0x100000000).toString(16).padStart(8, "0")

/** A fresh trace id and span id from `prng` (never the all-zero ids W3C calls invalid). */
const freshIds = (prng: PCGRandom): readonly [traceId: string, spanId: string] => {
  let traceId = hex8(prng) + hex8(prng) + hex8(prng) + hex8(prng)
  if (traceId === ZERO_TRACE) traceId = `${traceId.slice(0, 31)}1`
  let spanId = hex8(prng) + hex8(prng)
  if (spanId === ZERO_SPAN) spanId = `${spanId.slice(0, 15)}1`
  return [traceId, spanId]
}

/**
 * `tracer` behind a head sampler keeping `ratio` (0..1) of the traces that start on this node:
 * a root span is recorded when a draw is below `ratio` (1: always, no draw; 0: never); a span
 * under a parent is recorded exactly when its parent is.
 */
export const sampling = (tracer: Tracer.Tracer, ratio: number, prng: PCGRandom): Tracer.Tracer =>
  Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      if (Option.isSome(parent)) {
        const p = parent.value
        if (p.sampled) return tracer.span(name, parent, context, links, startTime, kind, options)
        return new UnsampledSpan(name, p.traceId, p.spanId, parent, context, kind)
      }
      if (ratio >= 1 || (ratio > 0 && prng.number() < ratio)) {
        return tracer.span(name, parent, context, links, startTime, kind, options)
      }
      const [traceId, spanId] = freshIds(prng)
      return new UnsampledSpan(name, traceId, spanId, parent, context, kind)
    },
    context: (f, fiber) => tracer.context(f, fiber)
  })

/** `sampling`, its generator seeded from the Effect `Random` in context. */
export const make = (tracer: Tracer.Tracer, ratio: number): Effect.Effect<Tracer.Tracer> =>
  Effect.map(Random.nextInt, (seed) => sampling(tracer, ratio, new PCGRandom(seed)))
