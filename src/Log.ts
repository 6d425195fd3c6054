/**
 * hotaru's log lines, in the spirit of firefly's server log, through Effect's Logger:
 *
 * ```
 * 20:37:22.123 INFO  [net#0] Client 0 login in.[127.0.0.1,61752]
 * 20:37:22.125 DEBUG [net#0] call method netHandle_100
 * 20:37:22.130 INFO  [gate<net] call method gateHandle1
 * ```
 *
 * `[node#conn]` comes from the `node` and `conn` log annotations (set by NetServer), and
 * `[node<caller]` from `node` and `caller` (set for inter-node calls); other annotations follow
 * the message as `key=value`, and a line logged inside a sampled trace span ends with
 * `trace=<traceId>` (the id the trace backend shows). With `format: "json"` (the CLI's `HOTARU_LOG_FORMAT=json`) each
 * record is one JSON object per line instead ({@link formatJson}).
 *
 * @since 0.1.0
 */
import { Cause, Layer, Logger, LogLevel, Option } from "effect"
import * as JsonLog from "./internal/observe/jsonLog.js"

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

const render = (value: unknown): string =>
  typeof value === "string" ? value : value instanceof Error ? value.message : JSON.stringify(value)

/**
 * Format one log record as a line (no newline).
 *
 * @since 0.1.0
 * @category utils
 */
export const formatLine = ({
  annotations,
  cause,
  context,
  date,
  logLevel,
  message
}: Logger.Logger.Options<unknown>): string => {
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
  let node: unknown
  let conn: unknown
  let caller: unknown
  const rest: Array<string> = []
  for (const [key, value] of annotations) {
    if (key === "node") node = value
    else if (key === "conn") conn = value
    else if (key === "caller") caller = value
    else rest.push(`${key}=${render(value)}`)
  }
  const where =
    node === undefined
      ? ""
      : `[${render(node)}${conn === undefined ? "" : `#${render(conn)}`}${caller === undefined ? "" : `<${render(caller)}`}] `
  const text = (Array.isArray(message) ? message : [message]).map(render).join(" ")
  const span = JsonLog.sampledSpan(context)
  if (Option.isSome(span)) rest.push(`trace=${span.value.traceId}`)
  const tail = rest.length === 0 ? "" : ` ${rest.join(" ")}`
  const causeText = Cause.isEmpty(cause) ? "" : `\n${Cause.pretty(cause)}`
  return `${time} ${logLevel.label.padEnd(5)} ${where}${text}${tail}${causeText}`
}

const writer = (format: (options: Logger.Logger.Options<unknown>) => string) =>
  Logger.make<unknown, void>((options) => {
    const line = `${format(options)}\n`
    if (LogLevel.greaterThanEqual(options.logLevel, LogLevel.Error)) process.stderr.write(line)
    else process.stdout.write(line)
  })

/**
 * The hotaru logger: one formatted line per record, errors to stderr.
 *
 * @since 0.1.0
 * @category utils
 */
export const logger: Logger.Logger<unknown, void> = writer(formatLine)

/**
 * Format one log record as one JSON object (no newline): `timestamp` (ISO 8601), `level`,
 * `node`, `fiber`, `traceId` and `spanId` when logged inside a sampled span, `message`, `annotations`
 * (the other log annotations: `conn`, `caller`, ...), `spans` (log spans, ms), `cause`.
 *
 * @since 0.1.0
 * @category utils
 */
export const formatJson: (options: Logger.Logger.Options<unknown>) => string = JsonLog.formatJson

/**
 * The line formats: `text` (the default, above) or `json` ({@link formatJson}).
 *
 * @since 0.1.0
 * @category models
 */
export type Format = "text" | "json"

/**
 * The hotaru JSON logger: one {@link formatJson} object per line, errors to stderr.
 *
 * @since 0.1.0
 * @category utils
 */
export const jsonLogger = writer(formatJson)

/**
 * Print hotaru lines to stdout (errors to stderr), from `level` up (default Info), in `format`
 * (default `text`), instead of Effect's default logger — and instead of the pretty logger
 * `NodeRuntime.runMain` installs, so a program run that way does not print every line twice.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: {
  readonly level?: LogLevel.LogLevel
  readonly format?: Format
}): Layer.Layer<never> =>
  Layer.merge(
    Layer.flatMap(Logger.remove(Logger.prettyLoggerDefault), () =>
      Logger.replace(Logger.defaultLogger, options?.format === "json" ? jsonLogger : logger)
    ),
    Logger.minimumLogLevel(options?.level ?? LogLevel.Info)
  )
