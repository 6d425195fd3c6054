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
 * the message as `key=value`.
 *
 * @since 0.1.0
 */
import { Cause, Layer, Logger, LogLevel } from "effect"

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
  const tail = rest.length === 0 ? "" : ` ${rest.join(" ")}`
  const causeText = Cause.isEmpty(cause) ? "" : `\n${Cause.pretty(cause)}`
  return `${time} ${logLevel.label.padEnd(5)} ${where}${text}${tail}${causeText}`
}

/**
 * The hotaru logger: one formatted line per record, errors to stderr.
 *
 * @since 0.1.0
 * @category utils
 */
export const logger = Logger.make<unknown, void>((options) => {
  const line = `${formatLine(options)}\n`
  if (LogLevel.greaterThanEqual(options.logLevel, LogLevel.Error)) process.stderr.write(line)
  else process.stdout.write(line)
})

/**
 * Print hotaru lines to stdout (errors to stderr), from `level` up (default Info), instead of
 * Effect's default logger — and instead of the pretty logger `NodeRuntime.runMain` installs, so a
 * program run that way does not print every line twice.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: { readonly level?: LogLevel.LogLevel }): Layer.Layer<never> =>
  Layer.merge(
    Layer.flatMap(Logger.remove(Logger.prettyLoggerDefault), () =>
      Logger.replace(Logger.defaultLogger, logger)
    ),
    Logger.minimumLogLevel(options?.level ?? LogLevel.Info)
  )
