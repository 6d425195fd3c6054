/**
 * Boot a whole topology in one process, for tests: every node of a config, on the in-memory
 * transport (or real loopback TCP), with typed net clients, per-node handles and fault
 * injection. Works under `it.scoped` with `TestClock`: reconnect backoff, heartbeats and
 * timeouts run on Effect's clock.
 *
 * ```ts
 * it.scoped("net -> gate -> game1", () =>
 *   Effect.gen(function* () {
 *     const cluster = yield* TestCluster.make({ config: "examples/demo/config.json" })
 *     yield* cluster.awaitLinks
 *     const client = yield* cluster.client("net")
 *     expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
 *   }))
 * ```
 *
 * @since 0.1.0
 */

import * as Net from "node:net"
import { Path } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import {
  Context,
  Data,
  Duration,
  Effect,
  Either,
  ExecutionStrategy,
  Exit,
  Layer,
  Option,
  Scope
} from "effect"
import * as Client from "./Client.js"
import * as HotaruConfig from "./HotaruConfig.js"
import * as NetServer from "./NetServer.js"
import * as Node from "./Node.js"
import * as Remote from "./Remote.js"
import * as Transport from "./Transport.js"
import { MemoryNetwork } from "./Transport.js"

/**
 * A cluster operation that cannot be done.
 *
 * @since 0.1.0
 * @category errors
 */
export class TestClusterError extends Data.TaggedError("TestClusterError")<{
  readonly reason: "UnknownNode" | "NotRunning" | "NoNetport" | "NotOnMemory"
  readonly detail: string
}> {
  override get message(): string {
    return this.detail
  }
}

/**
 * A config object declared in code: its `servers` keys are the node names (`Name`).
 *
 * @since 0.1.0
 * @category models
 */
export type ConfigObject<Name extends string> = {
  readonly servers: { readonly [K in Name]: unknown }
} & Record<string, unknown>

/**
 * `Name` is the union of the node names when `config` is an object written in code (the keys of
 * its `servers`): then `apps`, `nodes`, `node(…)`, `client(…)`, `stop(…)`, … accept those names
 * only, and a typo does not compile. With a file path or a `Loaded`, names are strings, checked
 * at start.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Name extends string = string> {
  /** A config file path, a config object (apps then come from `apps` or `dir`), or a `Loaded`. */
  readonly config: string | HotaruConfig.Loaded | ConfigObject<Name> | Readonly<Record<string, unknown>>
  /** Directory for relative `app` paths when `config` is an object (default: cwd). */
  readonly dir?: string
  /**
   * Apps by node name, used instead of importing the config's `app` modules: the servers named
   * here need no `app` file (their `app` entry may be absent or name no file).
   */
  readonly apps?: {
    readonly [K in NoInfer<Name>]?: Layer.Layer<never, unknown, Node.Capabilities> | Node.App
  }
  /** `memory` (default): nodes link in memory; `tcp`: real loopback sockets on free ports. */
  readonly transport?: "memory" | "tcp"
  /** Nodes to start (default: every server of the config). */
  readonly nodes?: ReadonlyArray<NoInfer<Name>>
  readonly heartbeat?: {
    readonly interval?: Duration.DurationInput
    readonly timeout?: Duration.DurationInput
  }
  readonly reconnect?: { readonly base?: Duration.DurationInput; readonly max?: Duration.DurationInput }
  readonly callTimeout?: Duration.DurationInput
}

/**
 * One node of a running cluster.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeHandle {
  readonly name: string
  /** The node's services (`Root.Root`, `Remote.Remote`, `NetServer.NetServer`, …). */
  readonly context: Effect.Effect<Context.Context<Node.Services>, TestClusterError>
  /** Run an effect with this node's services. */
  readonly use: <A, E>(effect: Effect.Effect<A, E, Node.Services>) => Effect.Effect<A, E | TestClusterError>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TestCluster<Name extends string = string> {
  readonly config: HotaruConfig.Loaded
  readonly node: (name: Name) => NodeHandle
  /** Connect a game client to a node's netport. */
  readonly client: (
    name: Name,
    options?: { readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<Client.Client, TestClusterError | Client.ClientError, Scope.Scope>
  /** Wait until every configured parent link is registered. */
  readonly awaitLinks: Effect.Effect<void, TestClusterError>
  /** Stop a node (its scope closes: listeners, links and fibers end). */
  readonly stop: (name: Name) => Effect.Effect<void, TestClusterError>
  /** Start a stopped node again. */
  readonly start: (
    name: Name
  ) => Effect.Effect<void, Node.NodeError | HotaruConfig.ConfigError | TestClusterError>
  readonly restart: (
    name: Name
  ) => Effect.Effect<void, Node.NodeError | HotaruConfig.ConfigError | TestClusterError>
  /** Close every link to `name`'s rootport (memory transport). */
  readonly cut: (name: Name) => Effect.Effect<void, TestClusterError>
  /** Refuse dials to `name`'s rootport and cut its links until `unblock` (memory transport). */
  readonly block: (name: Name) => Effect.Effect<void, TestClusterError>
  readonly unblock: (name: Name) => Effect.Effect<void, TestClusterError>
  /** Delay every message on links to `name`'s rootport (memory transport; TestClock-driven). */
  readonly delay: (name: Name, duration: Duration.DurationInput) => Effect.Effect<void, TestClusterError>
}

const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Give every rootport a free real port (TCP mode), keeping the links consistent. */
const remapPorts = (loaded: HotaruConfig.Loaded) =>
  Effect.gen(function* () {
    const servers: Record<string, HotaruConfig.ServerConfig> = {}
    const mapping = new Map<number, number>()
    for (const server of Object.values(loaded.config.servers)) {
      if (server.rootport !== undefined) mapping.set(server.rootport, yield* freePort)
    }
    for (const [name, server] of Object.entries(loaded.config.servers)) {
      servers[name] = {
        ...server,
        ...(server.rootport === undefined ? {} : { rootport: mapping.get(server.rootport)! }),
        ...(server.remoteport === undefined
          ? {}
          : {
              remoteport: server.remoteport.map((l) => ({
                ...l,
                rootport: mapping.get(l.rootport) ?? l.rootport
              }))
            })
      }
    }
    return { ...loaded, config: { ...loaded.config, servers } }
  })

const loadConfig = (options: Options) =>
  Effect.gen(function* () {
    if (typeof options.config === "string") {
      return yield* HotaruConfig.load(options.config, { apps: Object.keys(options.apps ?? {}) })
    }
    if ("config" in options.config && "dir" in options.config && "file" in options.config) {
      return options.config as HotaruConfig.Loaded
    }
    const path = yield* Path.Path
    return yield* Either.match(
      HotaruConfig.fromObject(options.config, { dir: path.resolve(options.dir ?? ".") }),
      {
        onLeft: Effect.fail,
        onRight: Effect.succeed
      }
    )
  })

interface Running {
  scope: Scope.CloseableScope
  context: Context.Context<Node.Services>
}

/**
 * Boot the cluster; it stops when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Name extends string = string>(
  options: Options<Name>
): Effect.Effect<
  TestCluster<Name>,
  Node.NodeError | HotaruConfig.ConfigError | TestClusterError,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const mode = options.transport ?? "memory"
    const platform = yield* Layer.build(NodeContext.layer)
    const original = yield* Effect.provide(loadConfig(options), platform)
    const loaded = mode === "tcp" ? yield* remapPorts(original) : original
    const transportContext = yield* Layer.build(
      mode === "memory"
        ? Transport.layerMemory
        : (Transport.layerTcp() as Layer.Layer<Transport.Transport | MemoryNetwork>)
    )
    const network = Context.getOption(transportContext, MemoryNetwork)
    const clusterScope = yield* Effect.scope
    const apps: Readonly<Record<string, Node.App | undefined>> = options.apps ?? {}
    const servers = Object.keys(loaded.config.servers)
    const strangers = Object.keys(apps).filter((name) => !servers.includes(name))
    if (strangers.length > 0) {
      return yield* new TestClusterError({
        reason: "UnknownNode",
        detail: `apps given for ${strangers.map((n) => `"${n}"`).join(", ")}, which the config has no server of (servers: ${servers.join(", ")})`
      })
    }
    const names: ReadonlyArray<string> = options.nodes ?? servers
    const running = new Map<string, Running>()

    const nodeOptions = (name: string): Node.Options => ({
      bindHost: "127.0.0.1",
      parentHost: "127.0.0.1",
      netPort: () => 0,
      webPort: () => 0,
      ...(apps[name] === undefined ? {} : { app: apps[name] }),
      ...(options.heartbeat === undefined ? {} : { heartbeat: options.heartbeat }),
      ...(options.reconnect === undefined ? {} : { reconnect: options.reconnect }),
      ...(options.callTimeout === undefined ? {} : { callTimeout: options.callTimeout })
    })

    const known = (name: string) =>
      loaded.config.servers[name] === undefined
        ? Effect.fail(
            new TestClusterError({ reason: "UnknownNode", detail: `no node "${name}" in the config` })
          )
        : Effect.void

    const start = (name: string) =>
      Effect.gen(function* () {
        yield* known(name)
        if (running.has(name)) return
        const scope = yield* Scope.fork(clusterScope, ExecutionStrategy.sequential)
        const context = yield* Scope.extend(Node.make(loaded, name, nodeOptions(name)), scope).pipe(
          Effect.provide(Context.merge(transportContext, platform)),
          Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
        )
        running.set(name, { scope, context })
      })

    const stop = (name: string) =>
      Effect.gen(function* () {
        yield* known(name)
        const node = running.get(name)
        if (node === undefined) return
        running.delete(name)
        yield* Scope.close(node.scope, Exit.void)
      })

    const contextOf = (name: string) =>
      Effect.suspend(() => {
        const node = running.get(name)
        return node === undefined
          ? Effect.fail(
              new TestClusterError({ reason: "NotRunning", detail: `node "${name}" is not running` })
            )
          : Effect.succeed(node.context)
      })

    const rootAddress = (name: string) =>
      Effect.gen(function* () {
        yield* known(name)
        const server = loaded.config.servers[name]!
        if (Option.isNone(network)) {
          return yield* new TestClusterError({
            reason: "NotOnMemory",
            detail: "link faults need the memory transport (use stop/start on tcp)"
          })
        }
        if (server.rootport === undefined) {
          return yield* new TestClusterError({
            reason: "UnknownNode",
            detail: `node "${name}" has no rootport`
          })
        }
        return { network: network.value, address: { host: "127.0.0.1", port: server.rootport } }
      })

    yield* Effect.forEach(names, start, { discard: true })

    const cluster: TestCluster<Name> = {
      config: loaded,
      node: (name) => ({
        name,
        context: contextOf(name),
        use: (effect) => Effect.flatMap(contextOf(name), (ctx) => Effect.provide(effect, ctx))
      }),
      client: (name, clientOptions) =>
        Effect.gen(function* () {
          const ctx = yield* contextOf(name)
          const server = Context.getOption(ctx, NetServer.NetServer)
          if (Option.isNone(server)) {
            return yield* new TestClusterError({
              reason: "NoNetport",
              detail: `node "${name}" has no netport`
            })
          }
          const frame = loaded.config.servers[name]?.frame
          return yield* Client.connect({
            host: "127.0.0.1",
            port: server.value.address.port,
            ...(frame === undefined ? {} : { frame }),
            ...(clientOptions?.timeout === undefined ? {} : { timeout: clientOptions.timeout })
          })
        }),
      awaitLinks: Effect.forEach(
        names,
        (name) =>
          Effect.gen(function* () {
            const ctx = yield* contextOf(name)
            const remote = Context.getOption(ctx, Remote.Remote)
            if (Option.isNone(remote)) return
            for (const link of loaded.config.servers[name]?.remoteport ?? []) {
              if (running.has(link.rootname)) yield* remote.value.awaitConnected(link.rootname)
            }
          }),
        { discard: true }
      ),
      stop,
      start,
      restart: (name) => Effect.zipRight(stop(name), start(name)),
      cut: (name) => Effect.flatMap(rootAddress(name), ({ address, network }) => network.cut(address)),
      block: (name) => Effect.flatMap(rootAddress(name), ({ address, network }) => network.block(address)),
      unblock: (name) =>
        Effect.flatMap(rootAddress(name), ({ address, network }) => network.unblock(address)),
      delay: (name, duration) =>
        Effect.flatMap(rootAddress(name), ({ address, network }) => network.delay(address, duration))
    }
    return cluster
  })
