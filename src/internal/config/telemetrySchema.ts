/**
 * The Schema of the `telemetry` block: traces (see docs/observability.md).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Bool, described, opt, Str } from "./primitives.js"

/** An `http://` or `https://` URL. */
const HttpUrl = described(Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s]+$/)), "an http(s) URL")

/** A number 0..1. */
const Ratio = described(Schema.Number.pipe(Schema.between(0, 1)), "a number from 0 to 1")

/**
 * The `telemetry` block: whether nodes make spans, and where they are exported.
 *
 * @since 0.1.0
 * @category utils
 */
export const TelemetryConfig = described(
  Schema.Struct({
    /** Make spans on every node (default false; a server's own `traces` wins). */
    traces: opt(Bool),
    /** Export them over OTLP/HTTP to this traces URL (env OTEL_EXPORTER_OTLP_ENDPOINT wins). */
    otlp: opt(HttpUrl),
    /** The exported `service.name` (default `hotaru`; env OTEL_SERVICE_NAME wins). */
    serviceName: opt(Str),
    /**
     * The share of the traces starting on a node that are recorded, 0..1 (default 1: all); a
     * request's hops follow its root's decision (env OTEL_TRACES_SAMPLER / _ARG win).
     */
    sampleRatio: opt(Ratio)
  }),
  "an object",
  false
)
export type TelemetryConfig = typeof TelemetryConfig.Type
