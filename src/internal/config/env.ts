/**
 * The environment variables hotaru's entry points read (`hotaru` and `Main.runNode`), as one
 * Effect `Config`: read through the running `ConfigProvider` (the process environment by
 * default; a test or an embedding program may provide another). Library code never reads the
 * environment: entry points read this and pass the values on.
 */
import * as Config from "effect/Config"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type { Loaded } from "./loaded.js"

const optionalText = (name: string) =>
  Config.option(Config.string(name)).pipe(Config.map(Option.filter((s) => s !== "")))

/** `HOTARU_LOG=debug|info|warning|error` (any case); anything else or unset: info. */
export const logLevel: Config.Config<LogLevel.LogLevel> = optionalText("HOTARU_LOG").pipe(
  Config.map((value) =>
    Option.getOrElse(
      Option.flatMap(value, (v) =>
        Option.fromNullable(LogLevel.allLevels.find((l) => l.label.toLowerCase() === v.toLowerCase()))
      ),
      () => LogLevel.Info
    )
  )
)

/** `HOTARU_LOG_FORMAT=json|text` (any case): the log line format; anything else or unset: text. */
export const logFormat: Config.Config<"text" | "json"> = optionalText("HOTARU_LOG_FORMAT").pipe(
  Config.map((value) => (Option.exists(value, (v) => v.toLowerCase() === "json") ? "json" : "text"))
)

/**
 * The OTLP traces URL of the standard OpenTelemetry variables:
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the URL itself), else `OTEL_EXPORTER_OTLP_ENDPOINT` (the
 * collector's base URL) + `/v1/traces`.
 */
export const otlpTraces: Config.Config<Option.Option<string>> = Config.all([
  optionalText("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  optionalText("OTEL_EXPORTER_OTLP_ENDPOINT")
]).pipe(
  Config.map(([traces, base]) =>
    Option.orElse(traces, () => Option.map(base, (url) => `${url.replace(/\/+$/, "")}/v1/traces`))
  )
)

/** What the entry points take from the environment. */
export const env = Config.all({
  /** `HOTARU_SECRET`: the cluster secret (overrides the config's `secret`). */
  secret: optionalText("HOTARU_SECRET"),
  /** `HOTARU_ADMIN_TOKEN`: the master's admin token. */
  adminToken: optionalText("HOTARU_ADMIN_TOKEN"),
  /** `HOTARU_BIND`: the address a node binds when `--bind` is not given. */
  bind: optionalText("HOTARU_BIND"),
  /** `HOTARU_SUPERVISED=1`: this node was started by a master (exit when its link drops). */
  supervised: optionalText("HOTARU_SUPERVISED").pipe(Config.map((v) => Option.contains(v, "1"))),
  logLevel,
  logFormat,
  /** The OTLP traces URL (`otlpTraces`): over the config's `telemetry.otlp`. */
  otlp: otlpTraces,
  /** `OTEL_SERVICE_NAME`: over the config's `telemetry.serviceName`. */
  serviceName: optionalText("OTEL_SERVICE_NAME")
})

/**
 * `loaded` with the OTLP URL and service name of the environment over its `telemetry` block
 * (for the nodes a master runs in its own process: node processes read their environment
 * themselves).
 */
export const withTelemetryEnv = (
  loaded: Loaded,
  env: { readonly otlp: Option.Option<string>; readonly serviceName: Option.Option<string> }
): Loaded => {
  if (Option.isNone(env.otlp) && Option.isNone(env.serviceName)) return loaded
  const telemetry = {
    ...loaded.config.telemetry,
    ...(Option.isSome(env.otlp) ? { otlp: env.otlp.value } : {}),
    ...(Option.isSome(env.serviceName) ? { serviceName: env.serviceName.value } : {})
  }
  return { ...loaded, config: { ...loaded.config, telemetry } }
}
