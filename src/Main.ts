/**
 * Running one node as a program: what `hotaru node NAME CONFIG` does, and what a user's own
 * entry file (firefly's `appmain.py`) calls after its per-node set-up:
 *
 * ```ts
 * // appmain.ts — started by the master as `node --import tsx appmain.ts NAME CONFIG`
 * import { Main } from "hotaru-rt"
 * // … per-node set-up …
 * Main.runNode({ name: process.argv[2]!, config: process.argv[3]! })
 * ```
 *
 * A node started by the master (`supervised`) links to the master, offers it the admin
 * services, and exits by itself when the master is gone: its stdin pipe from the master closes
 * (even when the master was SIGKILLed), or its master link stays down for `masterLossTimeout`.
 *
 * @since 0.1.0
 */

import { FileSystem, Path } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Context, Duration, Effect, Layer, LogLevel, Option, Stream } from "effect"
import type * as Redacted from "effect/Redacted"
import * as HotaruConfig from "./HotaruConfig.js"
import * as Env from "./internal/config/env.js"
import { orphanGuard } from "./internal/control/orphanGuard.js"
import * as Log from "./Log.js"
import * as Master from "./Master.js"
import * as Node from "./Node.js"
import * as Remote from "./Remote.js"
import * as Transport from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface NodeMainOptions {
  /** The node's name in the config. */
  readonly name: string
  /** Path of the config file. */
  readonly config: string
  /** Started by the master: link to it and exit when it is gone (default: env HOTARU_SUPERVISED=1). */
  readonly supervised?: boolean
  /** Address every listener binds, the netport included, over the config (tests). */
  readonly bindHost?: string
  /** The CLI's `--bind` (or env HOTARU_BIND): address of the internal listeners, over the config's `bind`. */
  readonly bind?: string
  /** A supervised node exits when its master link is down this long (default 10 s). */
  readonly masterLossTimeout?: Duration.DurationInput
  /** Use this app instead of the config's `app` module (no `app` file is needed then). */
  readonly app?: Node.App
  /**
   * Apps by node name, given in code: the node runs `apps[name]` (unless `app` is given), and no
   * server named here needs an `app` file. One entry file can so hold a whole topology:
   * `Main.runNode({ name: process.argv[2]!, config: process.argv[3]!, apps: { gate, net } })`.
   */
  readonly apps?: Readonly<Record<string, Node.App>>
  /** The cluster secret, overriding the config's `secret` (what env HOTARU_SECRET gives). */
  readonly secret?: string | Redacted.Redacted<string> | undefined
  /** The token of the webport's `/metrics`, over the config's `adminToken` (env HOTARU_ADMIN_TOKEN). */
  readonly adminToken?: string | Redacted.Redacted<string> | undefined
  /** The OTLP traces URL, over the config's `telemetry.otlp` (env OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly otlp?: string | undefined
  /** The exported `service.name`, over the config's `telemetry.serviceName` (env OTEL_SERVICE_NAME). */
  readonly serviceName?: string | undefined
  /** The traces' sample ratio, over the config's `telemetry.sampleRatio` (env OTEL_TRACES_SAMPLER). */
  readonly sampleRatio?: number | undefined
}

/** Exit when the master link, once up, stays down for `timeout`. */
const watchMaster = (timeout: Duration.DurationInput) =>
  Effect.gen(function* () {
    const remote = yield* Remote.Remote
    const lifecycle = yield* Node.Lifecycle
    yield* remote.awaitConnected("master")
    yield* remote.changes("master").pipe(
      Stream.filter((s) => s._tag !== "Connected"),
      Stream.mapEffect(() =>
        remote.awaitConnected("master").pipe(
          Effect.timeout(timeout),
          Effect.catchTag("TimeoutException", () =>
            Effect.zipRight(Effect.logWarning("the master link is gone: stopping"), lifecycle.shutdown)
          )
        )
      ),
      Stream.runDrain
    )
  })

/**
 * Run node `name` until it is asked to stop (scope close, Admin `Stop`, SIGTERM via runMain).
 *
 * @since 0.1.0
 * @category utils
 */
export const node = (
  options: NodeMainOptions
): Effect.Effect<void, Node.NodeError | HotaruConfig.ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.scoped(
    Effect.gen(function* () {
      const app = options.app ?? options.apps?.[options.name]
      const inCode = [
        ...Object.keys(options.apps ?? {}),
        ...(options.app === undefined ? [] : [options.name])
      ]
      const loaded = yield* HotaruConfig.load(options.config, { apps: inCode }).pipe(
        Effect.flatMap((loaded) => HotaruConfig.withSecret(loaded, options.secret))
      )
      const supervised = options.supervised ?? false
      // a supervised node's master has printed them already
      if (!supervised) yield* logWarnings(loaded)
      const master = loaded.config.master
      const masterLink =
        supervised && master !== undefined
          ? { host: master.roothost ?? Master.dialAddress(master, options.bind), port: master.rootport }
          : undefined
      if (supervised) yield* orphanGuard()
      const context = yield* Layer.build(
        Node.layer(loaded, options.name, {
          ...(options.bindHost === undefined ? {} : { bindHost: options.bindHost }),
          ...(options.bind === undefined ? {} : { bind: options.bind }),
          ...(app === undefined ? {} : { app }),
          ...(masterLink === undefined ? {} : { master: masterLink }),
          ...(options.adminToken === undefined ? {} : { adminToken: options.adminToken }),
          ...(options.otlp === undefined ? {} : { otlp: options.otlp }),
          ...(options.serviceName === undefined ? {} : { serviceName: options.serviceName }),
          ...(options.sampleRatio === undefined ? {} : { sampleRatio: options.sampleRatio })
        }).pipe(Layer.provide(Transport.layerConfig(loaded)))
      )
      const lifecycle = Context.get(context, Node.Lifecycle)
      if (masterLink !== undefined) {
        yield* watchMaster(options.masterLossTimeout ?? Duration.seconds(10)).pipe(
          Effect.provide(context),
          Effect.forkScoped
        )
      }
      const info = Context.get(context, Node.NodeInfo)
      yield* Effect.log(`node ${info.name} up: ${info.capabilities.join(", ") || "no listeners"}`)
      yield* lifecycle.awaitShutdown
      yield* Effect.log(`node ${info.name} stopping`)
    }).pipe(Effect.annotateLogs({ node: options.name }))
  )

/**
 * Log the config's warnings (`HotaruConfig.warningsOf`), one line each, naming the file.
 *
 * @since 0.1.0
 * @category utils
 */
export const logWarnings = (loaded: HotaruConfig.Loaded): Effect.Effect<void> =>
  Effect.forEach(loaded.warnings ?? [], (warning) => Effect.logWarning(`${loaded.file}: ${warning}`), {
    discard: true
  })

/**
 * Log and platform layers a node program runs with (`format`: hotaru's text lines, or `json`).
 *
 * @since 0.1.0
 * @category running
 */
export const runtimeLayer = (
  level?: LogLevel.LogLevel,
  format?: Log.Format
): Layer.Layer<FileSystem.FileSystem | Path.Path> =>
  Layer.merge(
    NodeContext.layer,
    Log.layer({ ...(level === undefined ? {} : { level }), ...(format === undefined ? {} : { format }) })
  )

/**
 * Run a node as this process's program (exit code 1 on a start error, printed clearly).
 *
 * @since 0.1.0
 * @category running
 */
export const runNode = (options: NodeMainOptions): void =>
  NodeRuntime.runMain(
    Effect.flatMap(Env.env, (env) =>
      node({
        ...options,
        supervised: options.supervised ?? env.supervised,
        ...(options.bind === undefined && Option.isSome(env.bind) ? { bind: env.bind.value } : {}),
        secret: options.secret ?? Option.getOrUndefined(env.secret),
        adminToken: options.adminToken ?? Option.getOrUndefined(env.adminToken),
        otlp: options.otlp ?? Option.getOrUndefined(env.otlp),
        serviceName: options.serviceName ?? Option.getOrUndefined(env.serviceName),
        sampleRatio: options.sampleRatio ?? Option.getOrUndefined(env.sampleRatio)
      })
    ).pipe(
      Effect.tapErrorCause((cause) => Effect.logError("node failed to start", cause)),
      Effect.provide(runtimeLayer(levelFromEnv(), formatFromEnv()))
    ),
    { disableErrorReporting: true, disablePrettyLogger: true }
  )

/**
 * HOTARU_LOG=debug|info|warning|error (read only by program entry points).
 *
 * @since 0.1.0
 * @category utils
 */
export const levelFromEnv = (): LogLevel.LogLevel =>
  Effect.runSync(Effect.orElseSucceed(Env.logLevel, () => LogLevel.Info))

/**
 * HOTARU_LOG_FORMAT=json|text (read only by program entry points; default text).
 *
 * @since 0.1.0
 * @category utils
 */
export const formatFromEnv = (): Log.Format =>
  Effect.runSync(Effect.orElseSucceed(Env.logFormat, () => "text" as const))
