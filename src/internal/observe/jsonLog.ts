/**
 * hotaru's structured log records (`HOTARU_LOG_FORMAT=json`): one JSON object per line with
 * `timestamp` (ISO 8601), `level`, `node`, `fiber`, `traceId` and `spanId` (inside a sampled span),
 * `message`, `annotations` (every other log annotation), `spans` (log spans, ms) and `cause`
 * (pretty, when there is one). Re-exported by the public `Log` module.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as List from "effect/List"
import type * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

/** A value as JSON can hold it (errors by their message, anything unserialisable as text). */
const plain = (value: unknown): unknown => {
  if (value instanceof Error) return value.message
  if (typeof value === "bigint") return value.toString()
  if (value === null || typeof value !== "object") return value
  try {
    JSON.stringify(value)
    return value
  } catch {
    return String(value)
  }
}

const text = (value: unknown): string =>
  typeof value === "string" ? value : value instanceof Error ? value.message : JSON.stringify(plain(value))

/** The sampled span a record was logged in (an unsampled one names a trace recorded nowhere). */
export const sampledSpan = (
  context: Logger.Logger.Options<unknown>["context"]
): Option.Option<Tracer.AnySpan> =>
  Option.filter(
    Context.getOption(FiberRefs.getOrDefault(context, FiberRef.currentContext), Tracer.ParentSpan),
    (span) => span.sampled
  )

/** One record as a JSON document (no newline). */
export const formatJson = (options: Logger.Logger.Options<unknown>): string => {
  const { annotations, cause, context, date, fiberId, logLevel, message, spans } = options
  const record: Record<string, unknown> = {
    timestamp: date.toISOString(),
    level: logLevel.label,
    fiber: FiberId.threadName(fiberId)
  }
  const rest: Record<string, unknown> = {}
  for (const [key, value] of HashMap.toEntries(annotations)) {
    if (key === "node") record.node = plain(value)
    else rest[key] = plain(value)
  }
  const span = sampledSpan(context)
  if (Option.isSome(span)) {
    record.traceId = span.value.traceId
    record.spanId = span.value.spanId
  }
  record.message = (Array.isArray(message) ? message : [message]).map(text).join(" ")
  if (Object.keys(rest).length > 0) record.annotations = rest
  if (List.isCons(spans)) {
    const now = date.getTime()
    record.spans = Object.fromEntries(List.toArray(spans).map((s) => [s.label, now - s.startTime]))
  }
  if (!Cause.isEmpty(cause)) record.cause = Cause.pretty(cause)
  return JSON.stringify(record)
}
