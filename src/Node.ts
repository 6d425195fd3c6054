/**
 * A node: the capability Layers its config entry names, composed at start-up, plus its `app`.
 *
 * | config key   | capability (service)      |
 * |--------------|---------------------------|
 * | `rootport`   | `Root.Root`               |
 * | `remoteport` | `Remote.Remote`           |
 * | `netport`    | `NetServer.NetServer`     |
 * | `wsport`     | `NetServer.NetServer` (the same edge, WebSocket clients) |
 * | `runnerport` / `entities` | `@effect/cluster` `Sharding` (see `EntitySharding.ts`) |
 *
 * The `app` module's default export is a Layer of handlers (`NetServer.handle`,
 * `Root.serve`, `Remote.serve`, …); it may use any capability its node has. Capabilities the
 * config does not name are not built at all. The client listener starts only after the app's
 * handlers are registered, so no client ever sees a half-started node.
 *
 * The app may instead be given in code (`Options.app`; its `app` module then need not exist). The
 * peers it names are checked against the config while it is built: a parent must be in the
 * node's `remoteport`, a child must list the node in its own; a wrong name fails the start with
 * `NodeError` `UnknownName`, naming the valid ones.
 *
 * @since 0.1.0
 */

import type { Sharding as ClusterSharding } from "@effect/cluster/Sharding"
import { FileSystem, HttpServerResponse, Path } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import {
  Cause,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  ExecutionStrategy,
  Exit,
  Layer,
  Option,
  Random,
  type Redacted,
  Ref,
  Scope
} from "effect"
import { AdminService, ReloadFailed } from "./Admin.js"
import * as Db from "./Db.js"
import * as EntitySharding from "./EntitySharding.js"
import * as HotaruConfig from "./HotaruConfig.js"
import { importApp } from "./internal/config/appImport.js"
import { planOf } from "./internal/config/nodePlan.js"
import { readWsTls } from "./internal/config/wsTls.js"
import * as FrontDrain from "./internal/control/frontDrain.js"
import * as HandoverLink from "./internal/control/handoverLink.js"
import { type CapabilityTag, capability, explainMissing } from "./internal/control/startError.js"
import { Jobs, make as makeJobs } from "./internal/jobs/registry.js"
import { NodeName } from "./internal/observe/metrics.js"
import * as NodeMetrics from "./internal/observe/nodeMetrics.js"
import * as Prometheus from "./internal/observe/prometheus.js"
import { nodeTracing, tracingLayer } from "./internal/observe/telemetry.js"
import * as Topology from "./internal/rpc/topology.js"
import * as Mem from "./Mem.js"
import * as NetServer from "./NetServer.js"
import { NodeError } from "./NodeError.js"
import * as Players from "./Players.js"
import * as Remote from "./Remote.js"
import * as Repository from "./Repository.js"
import * as Root from "./Root.js"
import type { Transport } from "./Transport.js"
import * as Web from "./Web.js"

/**
 * Services an app layer may require: the capabilities of its node.
 *
 * @since 0.1.0
 * @category models
 */
export type Capabilities =
  | Db.Db
  | SqlClient.SqlClient
  | Mem.Mem
  | Root.Root
  | Remote.Remote
  | NetServer.NetRouter
  | Web.Router
  | Web.WebAddress
  | NodeInfo
  | Lifecycle
  | Repository.DeadLetters
  | Players.Players
  | ClusterSharding
  | Jobs

/**
 * Services a running node provides.
 *
 * @since 0.1.0
 * @category models
 */
export type Services = Capabilities | NetServer.NetServer | AppHost

/**
 * An app: a layer of handlers over the node's capabilities.
 *
 * @since 0.1.0
 * @category models
 */
export type App = Layer.Layer<never, unknown, Capabilities>

/**
 * Type an app module's default export (checks it only needs node capabilities).
 *
 * @since 0.1.0
 * @category utils
 */
export const app = <E, R extends Capabilities>(layer: Layer.Layer<never, E, R>): Layer.Layer<never, E, R> =>
  layer

import { AppHost, Lifecycle, NodeInfo } from "./internal/control/nodeServices.js"
import * as LocalPlayers from "./internal/edge/localPlayers.js"

export { NodeError } from "./NodeError.js"
export { AppHost, Lifecycle, NodeInfo }

/**
 * How a node is built; everything has a default.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Address EVERY listener of the node binds, the public netport included, over the config's
   * `bind` (tests put a whole topology on loopback this way).
   */
  readonly bindHost?: string
  /**
   * The CLI's `--bind`: address of the internal listeners (rootport, webport), over the config's
   * `bind` (see `HotaruConfig.bindAddress`); the netport keeps its own. `bindHost` wins over it.
   */
  readonly bind?: string
  /**
   * Host children dial when a `remoteport` entry has no `roothost` (default: the parent
   * server's `roothost`, else `127.0.0.1`).
   */
  readonly parentHost?: string
  /** Use this app instead of importing the config's `app` module. */
  readonly app?: Layer.Layer<never, unknown, never> | App
  /** Map a configured client port (netport, wsport) to the one to bind (tests bind them to 0). */
  readonly netPort?: (configured: number) => number
  /** The same for the webport. */
  readonly webPort?: (configured: number) => number
  readonly heartbeat?: {
    readonly interval?: Duration.DurationInput
    readonly timeout?: Duration.DurationInput
  }
  readonly reconnect?: { readonly base?: Duration.DurationInput; readonly max?: Duration.DurationInput }
  /** How long calls to a parent wait for its link (default 0: fail fast with NodeUnavailable). */
  readonly callTimeout?: Duration.DurationInput
  /** Link to the master (as parent `master`) and offer it `Admin.AdminService`. */
  readonly master?: MasterLink
  /** The admin token guarding the webport's `/metrics` (default: the config's `adminToken`). */
  readonly adminToken?: string | Redacted.Redacted<string>
  /** The OTLP traces URL over the config's `telemetry.otlp` (env OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly otlp?: string
  /** The exported `service.name` over the config's `telemetry.serviceName` (env OTEL_SERVICE_NAME). */
  readonly serviceName?: string
  /** The traces' sample ratio (0..1) over the config's `telemetry.sampleRatio` (env OTEL_TRACES_SAMPLER). */
  readonly sampleRatio?: number
}

export { importApp } from "./internal/config/appImport.js"

/** The services a capability provides, for a clear error when an app needs one the node lacks. */
const capabilityTags: ReadonlyArray<CapabilityTag> = [
  capability(Root.Root, "rootport"),
  capability(Remote.Remote, "remoteport"),
  capability(NetServer.NetServer, "netport")
]

/** Build an app into its own scope with a fresh router, then make its routes the live ones. */
const makeAppHost = (
  loaded: HotaruConfig.Loaded,
  name: string,
  initial: { readonly file: string; readonly app: App } | undefined,
  inCode: boolean
) =>
  Effect.gen(function* () {
    const context = yield* Effect.context<Capabilities | FileSystem.FileSystem | Path.Path>()
    const live = Context.get(context, NetServer.NetRouter)
    const hostScope = yield* Effect.scope
    const reloads = yield* Ref.make(0)
    // a fresh module URL per reload (the import cache is per process; nodes restart in it too)
    const instance = yield* Random.nextInt
    const install = (app: App) =>
      Effect.gen(function* () {
        const scope = yield* Scope.fork(hostScope, ExecutionStrategy.sequential)
        const staging = yield* NetServer.makeRouter
        yield* Layer.buildWithScope(app, scope).pipe(
          Effect.provide(Context.add(context, NetServer.NetRouter, staging)),
          Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
        )
        // one synchronous swap: no request ever sees half of the old and half of the new routes
        yield* live.replace(staging)
        return scope
      })
    let current = initial
    let currentScope = yield* install(initial?.app ?? Layer.empty)
    const lock = yield* Effect.makeSemaphore(1)
    const service: Context.Tag.Service<AppHost> = {
      reloads: Ref.get(reloads),
      reload: lock.withPermits(1)(
        Effect.gen(function* () {
          const fresh = `${name}-${instance}-${(yield* Ref.get(reloads)) + 1}-${yield* Clock.currentTimeMillis}`
          if (inCode && loaded.config.servers[name]?.reload === undefined) {
            return yield* new NodeError({
              reason: "Reload",
              node: name,
              detail: "its app is given in code and it has no reload module: restart the node to change it"
            })
          }
          const next = yield* importApp(loaded, name, { key: "reload", fresh })
          if (next === undefined) {
            return yield* new NodeError({
              reason: "Reload",
              node: name,
              detail: "it has no app or reload module"
            })
          }
          // RPC groups are registered per scope: the old app must let go of them first
          yield* Scope.close(currentScope, Exit.void)
          const installed = yield* Effect.either(install(next.app))
          if (installed._tag === "Left") {
            currentScope = yield* install(current?.app ?? Layer.empty).pipe(Effect.orDie)
            return yield* new NodeError({
              reason: "Reload",
              node: name,
              detail: `the new handlers did not start, the old ones are back: ${Cause.pretty(Cause.fail(installed.left))}`
            })
          }
          currentScope = installed.right
          current = next
          yield* Ref.update(reloads, (n) => n + 1)
          yield* Effect.log(`reloaded ${next.file}`)
          return next.file
        }).pipe(Effect.provide(context))
      )
    }
    return service
  })

/**
 * The database of `db: true` nodes: the top-level `db` block, or an SQLite file under the project.
 *
 * @since 0.1.0
 * @category utils
 */
export const dbOptions = (loaded: HotaruConfig.Loaded): Db.DbOptions =>
  Db.fromFirefly(loaded.config.db ?? { driver: "sqlite" }, loaded.dir)

export { memOptions } from "./internal/config/nodePlan.js"

/**
 * The master link: where the master listens, and the admin services offered to it.
 *
 * @since 0.1.0
 * @category models
 */
export interface MasterLink {
  readonly host: string
  readonly port: number
}

const adminHandlers = AdminService.toLayer(
  Effect.gen(function* () {
    const info = yield* NodeInfo
    const lifecycle = yield* Lifecycle
    const host = yield* AppHost
    const jobs = yield* Jobs
    const context = yield* Effect.context<never>()
    const get = <I, S>(tag: Context.Tag<I, S>) => Context.getOption(context as Context.Context<I>, tag)
    const root = get(Root.Root)
    const remote = get(Remote.Remote)
    const net = get(NetServer.NetServer)
    return {
      Status: () =>
        Effect.gen(function* () {
          const parents = yield* Effect.forEach(info.server.remoteport ?? [], ({ rootname: name }) =>
            Option.isNone(remote)
              ? Effect.succeed({ name, connected: false })
              : Effect.map(remote.value.status(name), (s) => ({ name, connected: s._tag === "Connected" }))
          )
          const stats = Option.isSome(net) ? Option.some(yield* net.value.stats) : Option.none()
          // the counters from the node's metric samples: the numbers its `/metrics` shows
          const counters = yield* NodeMetrics.nodeCounters(info.name, info.capabilities)
          const now = yield* Clock.currentTimeMillis
          return {
            name: info.name,
            pid: process.pid,
            uptimeMs: now - info.startedAt,
            capabilities: info.capabilities,
            parents,
            children: Option.isSome(root) ? yield* root.value.children : [],
            connections: Option.match(stats, { onNone: () => 0, onSome: (x) => x.connections }),
            messages: counters.messages,
            reloads: yield* host.reloads,
            deadLettered: counters.deadLettered,
            jobs: yield* jobs.reports
          }
        }),
      Metrics: () => NodeMetrics.nodeSnapshot(info.name, info.capabilities),
      Stop: () => lifecycle.shutdown,
      Reload: () =>
        host.reload.pipe(
          Effect.map((module) => ({ module })),
          Effect.mapError((e) => new ReloadFailed({ node: info.name, detail: e.detail }))
        ),
      ...LocalPlayers.handlers(net)
    }
  })
)

/**
 * The layer of node `name` of a loaded config. It needs a `Transport` (TCP between processes,
 * memory inside one) and provides the node's capabilities.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  loaded: HotaruConfig.Loaded,
  name: string,
  options: Options = {}
): Layer.Layer<Services, NodeError, Transport | FileSystem.FileSystem | Path.Path> =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const server = loaded.config.servers[name]
      if (server === undefined) {
        return yield* new NodeError({
          reason: "UnknownNode",
          node: name,
          detail: `no server "${name}" in ${loaded.file} (servers: ${Object.keys(loaded.config.servers).join(", ")})`
        })
      }
      const initial =
        options.app === undefined
          ? yield* importApp(loaded, name)
          : { file: "<given app>", app: options.app as App }
      const plan = planOf(loaded, name, server, options)
      const { heartbeat, linkAuth, role } = plan
      // the names the app may use for its links: a typo is a start error, not an outage
      const topology = Layer.succeed(Topology.TopologyCheck, {
        node: name,
        parents: plan.parents.map((p) => p.name),
        children: plan.children
      })
      const failStart = (what: string) => (e: { readonly message: string }) =>
        new NodeError({ reason: "Start", node: name, detail: `${what}: ${e.message}` })
      // spans only when the config turns them on (per server over the top level): else none at all
      const telemetry = loaded.config.telemetry
      const tracing = yield* nodeTracing({
        node: name,
        traces: server.traces ?? telemetry?.traces ?? false,
        otlp: options.otlp ?? telemetry?.otlp,
        serviceName: options.serviceName ?? telemetry?.serviceName,
        sampleRatio: options.sampleRatio ?? telemetry?.sampleRatio
      }).pipe(Effect.mapError(failStart("telemetry")))
      const root =
        plan.root === undefined
          ? Layer.empty
          : Root.layer({ name, ...plan.root, accept: plan.children, heartbeat, ...linkAuth }).pipe(
              Layer.provide(topology),
              Layer.mapError(failStart(`rootport ${plan.root.port}`))
            )
      const remote =
        plan.parents.length === 0
          ? Layer.empty
          : Remote.layer({
              name,
              parents: plan.parents,
              heartbeat,
              reconnect: options.reconnect,
              callTimeout: plan.callTimeout,
              ...linkAuth
            }).pipe(Layer.provide(topology))
      // the webport serves the node's metrics, behind the admin token (none: every scrape refused)
      const metrics = Web.get("/metrics", () =>
        Effect.map(NodeMetrics.nodeExposition(name, plan.capabilities), (text) =>
          HttpServerResponse.text(text, { contentType: Prometheus.contentType })
        )
      ).pipe(Web.requireToken(options.adminToken ?? loaded.config.adminToken ?? ""))
      const web =
        plan.web === undefined
          ? Layer.empty
          : Layer.provideMerge(metrics, Web.layer({ ...plan.web, ...Web.limitsOf(server.http) }))
      const database = plan.db ? dbOptions(loaded) : undefined
      const db =
        database === undefined
          ? Layer.empty
          : Db.layer(database).pipe(Layer.mapError(failStart(`db (${Db.describe(database)})`)))
      // entity sharding (runner or client) over the node's database
      const sharding =
        role === undefined
          ? Layer.empty
          : EntitySharding.layer({
              role,
              sharding: loaded.config.sharding,
              ...linkAuth,
              db: database
            }).pipe(
              Layer.provide(db),
              Layer.mapError(
                failStart(role._tag === "Runner" ? `runnerport ${server.runnerport}` : "entities")
              )
            )
      const mem =
        plan.mem === undefined ? Layer.empty : Mem.layer(plan.mem).pipe(Layer.mapError(failStart("mem")))

      const startedAt = yield* Clock.currentTimeMillis
      const shutdown = yield* Deferred.make<void>()
      const base = Layer.mergeAll(
        Layer.succeed(NodeName, name),
        Layer.succeed(NodeInfo, { name, config: loaded, server, capabilities: plan.capabilities, startedAt }),
        Layer.succeed(Lifecycle, {
          shutdown: Effect.asVoid(Deferred.succeed(shutdown, undefined)),
          awaitShutdown: Deferred.await(shutdown)
        }),
        NetServer.layerRouter,
        // players on other nodes, through the master (none without a master link)
        options.master === undefined
          ? Players.layerAlone(name)
          : Layer.merge(Players.layer(name), HandoverLink.layer(Remote.client, plan.onlyFront)).pipe(
              Layer.provide(remote)
            ),
        Layer.effect(Repository.DeadLetters, Repository.makeDeadLetters),
        Layer.effect(Jobs, makeJobs),
        topology,
        root,
        remote,
        web,
        db,
        mem,
        sharding
      ) as Layer.Layer<Capabilities, NodeError, Transport>

      const host = Layer.scoped(AppHost, makeAppHost(loaded, name, initial, options.app !== undefined))
      // one client edge for the netport and the wsport: one connection table, push across both
      const wsTls = server.ws?.tls
      const net =
        plan.net === undefined && plan.ws === undefined
          ? Layer.empty
          : Layer.unwrapEffect(
              Effect.map(
                wsTls === undefined || plan.ws === undefined
                  ? Effect.succeed(undefined)
                  : readWsTls(loaded, name, wsTls),
                (tls) =>
                  NetServer.layer({
                    ...NetServer.configOptions(server),
                    ...plan.net,
                    ...(plan.ws === undefined
                      ? {}
                      : { webSocket: tls === undefined ? plan.ws : { ...plan.ws, tls } }),
                    node: name
                  })
              )
            )
      // a front's graceful stop drains its sessions first, its master link still up (FrontDrain)
      const served = Remote.serve("master", AdminService, adminHandlers)
      const admin = options.master === undefined ? Layer.empty : FrontDrain.after(loaded.config, served)

      // the app's handlers are in place before the client listener opens; admin comes last
      return admin.pipe(
        Layer.provideMerge(net),
        Layer.provideMerge(host),
        Layer.provideMerge(base),
        Layer.catchAllCause((cause) => Layer.fail(explainMissing(name, capabilityTags)(cause))),
        Layer.annotateLogs({ node: name }),
        Layer.provide(tracing === undefined ? Layer.empty : tracingLayer(tracing))
      ) as Layer.Layer<Services, NodeError, Transport | FileSystem.FileSystem | Path.Path>
    })
  )

/**
 * Build node `name` in the current scope and return its services (what `layer` provides):
 * `Node.make(loaded, "gate")` is firefly's `FFServer` for that entry of the config.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  loaded: HotaruConfig.Loaded,
  name: string,
  options: Options = {}
): Effect.Effect<
  Context.Context<Services>,
  NodeError,
  Scope.Scope | Transport | FileSystem.FileSystem | Path.Path
> => Layer.build(layer(loaded, name, options))
