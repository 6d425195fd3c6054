/**
 * The Schema of the `telemetry` block: traces (see docs/observability.md).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Bool, described, opt, Str } from "./primitives.js"

/** An `http://` or `https://` URL. */
const HttpUrl = described(Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s]+$/)), "an http(s) URL")

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
    serviceName: opt(Str)
  }),
  "an object",
  false
)
export type TelemetryConfig = typeof TelemetryConfig.Type
