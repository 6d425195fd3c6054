/**
 * The environment variables hotaru's entry points read (`hotaru` and `Main.runNode`), as one
 * Effect `Config`: read through the running `ConfigProvider` (the process environment by
 * default; a test or an embedding program may provide another). Library code never reads the
 * environment: entry points read this and pass the values on.
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Loaded } from "./loaded.js"

const optionalText = (name: string) =>
  Config.option(Config.string(name)).pipe(Config.map(Option.filter((s) => s !== "")))

/** A secret variable, read `Redacted` (no log or error prints it); empty counts as unset. */
const optionalSecret = (name: string) =>
  Config.option(Config.redacted(name)).pipe(Config.map(Option.filter((s) => Redacted.value(s) !== "")))

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

/** The samplers of `OTEL_TRACES_SAMPLER` that take no argument, as ratios. */
const fixedSamplers: Readonly<Record<string, number>> = {
  always_on: 1,
  always_off: 0,
  parentbased_always_on: 1,
  parentbased_always_off: 0
}

/**
 * The head sampler of the standard OpenTelemetry variables, as a ratio: `OTEL_TRACES_SAMPLER`
 * `traceidratio` or `parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG` (a number 0..1,
 * default 1), or `always_on` / `always_off` (and their `parentbased_` forms). hotaru's sampler is
 * always parent-based: a hop follows its caller's decision. Any other sampler, or an argument that
 * is not a number 0..1, is a config error naming the variable (the entry point fails to start).
 */
export const sampleRatio: Config.Config<Option.Option<number>> = Config.all([
  optionalText("OTEL_TRACES_SAMPLER"),
  optionalText("OTEL_TRACES_SAMPLER_ARG")
]).pipe(
  Config.mapOrFail(([sampler, arg]) => {
    if (Option.isNone(sampler)) return Either.right(Option.none())
    const name = sampler.value.trim().toLowerCase()
    const fixed = fixedSamplers[name]
    if (fixed !== undefined) return Either.right(Option.some(fixed))
    if (name !== "traceidratio" && name !== "parentbased_traceidratio") {
      return Either.left(
        ConfigError.InvalidData(
          ["OTEL_TRACES_SAMPLER"],
          `unsupported sampler "${sampler.value}": hotaru reads always_on, always_off, traceidratio and their parentbased_ forms`
        )
      )
    }
    if (Option.isNone(arg)) return Either.right(Option.some(1))
    const ratio = Number(arg.value)
    if (arg.value.trim() === "" || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
      return Either.left(
        ConfigError.InvalidData(
          ["OTEL_TRACES_SAMPLER_ARG"],
          `expected a number from 0 to 1, got "${arg.value}"`
        )
      )
    }
    return Either.right(Option.some(ratio))
  })
)

/** What the entry points take from the environment. */
export const env = Config.all({
  /** `HOTARU_SECRET`: the cluster secret (overrides the config's `secret`). */
  secret: optionalSecret("HOTARU_SECRET"),
  /** `HOTARU_ADMIN_TOKEN`: the master's admin token. */
  adminToken: optionalSecret("HOTARU_ADMIN_TOKEN"),
  /** `HOTARU_BIND`: the address a node binds when `--bind` is not given. */
  bind: optionalText("HOTARU_BIND"),
  /** `HOTARU_SUPERVISED=1`: this node was started by a master (exit when its link drops). */
  supervised: optionalText("HOTARU_SUPERVISED").pipe(Config.map((v) => Option.contains(v, "1"))),
  logLevel,
  logFormat,
  /** The OTLP traces URL (`otlpTraces`): over the config's `telemetry.otlp`. */
  otlp: otlpTraces,
  /** `OTEL_SERVICE_NAME`: over the config's `telemetry.serviceName`. */
  serviceName: optionalText("OTEL_SERVICE_NAME"),
  /** `OTEL_TRACES_SAMPLER` (+ `_ARG`) as a ratio (`sampleRatio`): over the config's `telemetry.sampleRatio`. */
  sampleRatio
})

/**
 * `loaded` with the OTLP URL, service name and sampler of the environment over its `telemetry` block
 * (for the nodes a master runs in its own process: node processes read their environment
 * themselves).
 */
export const withTelemetryEnv = (
  loaded: Loaded,
  env: {
    readonly otlp: Option.Option<string>
    readonly serviceName: Option.Option<string>
    readonly sampleRatio: Option.Option<number>
  }
): Loaded => {
  if (Option.isNone(env.otlp) && Option.isNone(env.serviceName) && Option.isNone(env.sampleRatio))
    return loaded
  const telemetry = {
    ...loaded.config.telemetry,
    ...(Option.isSome(env.otlp) ? { otlp: env.otlp.value } : {}),
    ...(Option.isSome(env.serviceName) ? { serviceName: env.serviceName.value } : {}),
    ...(Option.isSome(env.sampleRatio) ? { sampleRatio: env.sampleRatio.value } : {})
  }
  return { ...loaded, config: { ...loaded.config, telemetry } }
}
