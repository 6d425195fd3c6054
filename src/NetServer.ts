/**
 * The `netport` capability: game clients over TCP speaking firefly's 17-byte frame.
 *
 * Handlers are registered as Layers (`NetServer.handle`), so an app module is a Layer:
 *
 * ```ts
 * const Echo = NetCommand.text(100, { name: "netHandle_100" })
 * const App = NetServer.handle(Echo, (body, conn) => Effect.succeed(`${conn.id}: ${body}`))
 * const Net = NetServer.serve(App, { port: 10001 })
 * ```
 *
 * Semantics (firefly's, plus what it lacked):
 * - each request is answered under its own command id; a handler that returns `undefined` sends
 *   nothing (firefly's `None`);
 * - requests of one connection run concurrently up to `maxInFlight` (reading pauses beyond that)
 *   and are answered in the order they arrived;
 * - an unknown command, a body that does not decode (or nests deeper than `limits.maxDepth`), or a
 *   handler failure/defect answers one error frame (command id `NetCommand.ERROR_COMMAND` =
 *   0xFFFFFFFF, JSON body `NetCommand.ErrorBody`) in that request's place; nothing else is affected.
 *   Its `message` carries no internal text (SQL, stacks, defects) unless `debugErrors` is on; a
 *   typed handler error keeps its `tag`, and one the command declares (its `error` Schema) is
 *   sent whole, encoded, in `value` (the client's `call` fails with it decoded);
 * - a handler may fail only with its command's declared error or `Undeclared` (checked by the
 *   compiler); `CommandGroup.toLayer` registers a group's handlers, demanding every one;
 * - a bad header, a length < 4 or a body above `frame.maxLength` closes that connection at once
 *   (logged), never buffering the body;
 * - nothing a client sends can throw out of a socket callback: an unexpected error while handling
 *   one connection closes that connection (counted, logged rate-limited);
 * - limits (see `Limits`): connections node-wide and per IP, outbound bytes per connection (reading
 *   pauses above `highWater`; a client past `maxBuffered` or blocked longer than `sendTimeout` is
 *   kicked), a deadline for a started frame, and `idleTimeout` (default 60 s);
 * - a handler runs to completion even if its client leaves (no half-done writes).
 *
 * Performance (see BENCHMARKS.md): connections are plain `node:net` callbacks (no fiber, scope
 * or timer per connection); a handler whose Effect is already an `Exit` (`Effect.succeed`,
 * `fail`, `void`…) is answered without a fiber, and so is one whose Effect is a call of a node
 * client (`(req) => gate.join(req)`, a handler that only forwards): the call is sent at once and
 * its reply answers the client from the link's callback. Any other handler runs in its own
 * fiber. The replies and pushes one connection gets within a tick leave in one write.
 *
 * @since 0.1.0
 */

import * as Net from "node:net"
import {
  Cause,
  Context,
  Data,
  Duration,
  Effect,
  Either,
  Exit,
  type Fiber,
  FiberId,
  FiberRef,
  FiberRefs,
  FiberSet,
  HashMap,
  Layer,
  LogLevel,
  Option,
  Runtime,
  Schedule,
  Scope
} from "effect"
import { identity } from "effect/Function"
import type * as Types from "effect/Types"
import type * as HotaruConfig from "./HotaruConfig.js"
import type { FrameOptions } from "./internal/edge/frame.js"
import * as Frame from "./internal/edge/frame.js"
import * as DirectCall from "./internal/rpc/directCall.js"
import * as LogLimit from "./internal/wire/logLimit.js"
import * as NetCommand from "./NetCommand.js"
import type { NodeUnavailable } from "./NodeError.js"

/**
 * One client connection, as handlers and hooks see it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  readonly id: number
  readonly remoteAddress: string
  readonly remotePort: number
}

/**
 * The connection of the request being handled (also passed to handlers as an argument).
 *
 * @since 0.1.0
 * @category services
 */
export class CurrentConnection extends Context.Tag("hotaru/NetServer/CurrentConnection")<
  CurrentConnection,
  Connection
>() {}

/**
 * The listener could not start.
 *
 * @since 0.1.0
 * @category errors
 */
export class NetServerError extends Data.TaggedError("NetServerError")<{
  readonly reason: "Listen"
  readonly host: string
  readonly port: number
  readonly cause: unknown
}> {
  override get message(): string {
    return `netport ${this.host}:${this.port}: cannot listen (${String(this.cause)})`
  }
}

/**
 * One registered command: the command, its handler as written (it may need `Provided` and what
 * `context` holds) and the context its handler layer captured when it was built.
 *
 * @since 0.1.0
 * @category models
 */
export interface Route {
  readonly command: NetCommand.Any
  readonly handler: (request: unknown, connection: Connection) => Effect.Effect<unknown, unknown, unknown>
  readonly context: Context.Context<never>
}

/**
 * A connect or disconnect hook, its layer's context already provided.
 *
 * @since 0.1.0
 * @category models
 */
export type Hook = (connection: Connection) => Effect.Effect<void, never, NetServer>

/**
 * The routes and hooks of a node (the `NetRouter` service). What it holds is read-only from the
 * outside; it changes only through `register`, `addHook` and `replace` (the `handle` /
 * `onConnect` / `onDisconnect` layers call them).
 *
 * @since 0.1.0
 * @category models
 */
export interface Router {
  /** The route of each command id (a read-only view; the server's lookup per frame). */
  readonly routes: ReadonlyMap<number, Route>
  /** The connect hooks, in registration order (a read-only view). */
  readonly onConnect: ReadonlyArray<Hook>
  /** The disconnect hooks, in registration order (a read-only view). */
  readonly onDisconnect: ReadonlyArray<Hook>
  /** Add the route of a command; dies if its command id already has one. */
  readonly register: (route: Route) => Effect.Effect<void>
  /** Add a connect or disconnect hook. */
  readonly addHook: (which: "onConnect" | "onDisconnect", hook: Hook) => Effect.Effect<void>
  /**
   * Take the routes and hooks of `other` in place of this router's own, in one synchronous step
   * (a hot reload: no request sees half of the old and half of the new routes).
   */
  readonly replace: (other: Router) => Effect.Effect<void>
}

/**
 * A fresh, empty router.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRouter: Effect.Effect<Router> = Effect.sync(() => {
  const routes = new Map<number, Route>()
  const onConnect: Array<Hook> = []
  const onDisconnect: Array<Hook> = []
  return {
    routes,
    onConnect,
    onDisconnect,
    register: (route) =>
      Effect.suspend(() => {
        const id = route.command.id
        const existing = routes.get(id)
        if (existing !== undefined) {
          return Effect.dieMessage(
            `command ${id} (${route.command.name}) has two handlers: ${existing.command.name} and ${route.command.name}`
          )
        }
        routes.set(id, route)
        return Effect.void
      }),
    addHook: (which, hook) =>
      Effect.sync(() => {
        ;(which === "onConnect" ? onConnect : onDisconnect).push(hook)
      }),
    replace: (other) =>
      Effect.sync(() => {
        if (other.routes === routes) return
        routes.clear()
        for (const [id, route] of other.routes) routes.set(id, route)
        onConnect.splice(0, onConnect.length, ...other.onConnect)
        onDisconnect.splice(0, onDisconnect.length, ...other.onDisconnect)
      })
  }
})

/**
 * The routes and hooks of a node, filled by `handle` / `onConnect` / `onDisconnect` layers.
 *
 * @since 0.1.0
 * @category services
 */
export class NetRouter extends Context.Tag("hotaru/NetServer/NetRouter")<NetRouter, Router>() {}

/**
 * A fresh, empty `NetRouter`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRouter: Layer.Layer<NetRouter> = Layer.effect(NetRouter, makeRouter)

/**
 * Context a handler may use without declaring it: provided per request by the server.
 *
 * @since 0.1.0
 * @category models
 */
export type Provided = NetServer | CurrentConnection

/**
 * Failures any handler may have without its command declaring them: the node it forwards to is
 * down (`NodeUnavailable`), or a value it pushes does not encode (`NetCommand.BodyError`). The
 * client receives them typed when the command declares them, else as `HandlerFailed` with their
 * `tag` and no text.
 *
 * @since 0.1.0
 * @category models
 */
export type Undeclared = NodeUnavailable | NetCommand.BodyError

/**
 * The handler of command `C`: it answers the command's response (or `undefined`: no reply) and
 * fails only with the command's declared error or `Undeclared`.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler<C, R = never> = (
  request: NetCommand.Request<C>,
  connection: Connection
) => Effect.Effect<NetCommand.Response<C> | undefined | void, NetCommand.Failure<C> | Undeclared, R>

/**
 * What a handler layer provides: the proof that command `Name` is handled, with the error type
 * its clients receive (`Layer<Handled<"join", RoomFull>, never, …>`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Handled<Name extends string, Err> {
  readonly name: Name
  readonly command: NetCommand.Any
  /** Type-level only: the error type of the command (kept exact). */
  readonly error: Types.Invariant<Err>
}

/** The context key of `Handled<Name, Err>`. */
export const Handled = <Name extends string, Err>(
  name: Name
): Context.Tag<Handled<Name, Err>, Handled<Name, Err>> =>
  Context.GenericTag<Handled<Name, Err>>(`hotaru/NetServer/Handled/${name}`)

/**
 * Register the handler of a command. The handler fails only with the command's declared `error`
 * (or `Undeclared`): anything else does not compile. Its other requirements are captured when
 * the layer is built. Registering the same command id twice is a defect at start-up.
 *
 * @since 0.1.0
 * @category utils
 */
export const handle = <Name extends string, Req, Res, Err, R>(
  command: NetCommand.Command<Name, Req, Res, Err>,
  handler: (
    request: NoInfer<Req>,
    connection: Connection
  ) => Effect.Effect<NoInfer<Res> | undefined | void, NoInfer<Err> | Undeclared, R>
): Layer.Layer<Handled<Name, Err>, never, NetRouter | Exclude<R, Provided>> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const router = yield* NetRouter
      const context = yield* Effect.context<Exclude<R, Provided>>()
      yield* router.register({
        command: command as unknown as NetCommand.Any,
        handler: handler as Route["handler"],
        context: context as Context.Context<never>
      })
      return Context.make(Handled<Name, Err>(command.name), {
        name: command.name,
        command: command as unknown as NetCommand.Any,
        error: identity
      })
    })
  )

const hook =
  (which: "onConnect" | "onDisconnect") =>
  <R>(
    f: (connection: Connection) => Effect.Effect<void, never, R>
  ): Layer.Layer<never, never, NetRouter | Exclude<R, Provided>> =>
    Layer.effectDiscard(
      Effect.gen(function* () {
        const router = yield* NetRouter
        const context = yield* Effect.context<Exclude<R, Provided>>()
        yield* router.addHook(
          which,
          (connection) =>
            Effect.provideService(
              Effect.mapInputContext(
                f(connection) as Effect.Effect<void, never, Provided | Exclude<R, Provided>>,
                (ctx: Context.Context<Provided>) => Context.merge(context, ctx)
              ),
              CurrentConnection,
              connection
            ) as Effect.Effect<void, never, NetServer>
        )
      })
    )

/**
 * Run an Effect when a client connects (after it is registered: `push` reaches it).
 *
 * @since 0.1.0
 * @category utils
 */
export const onConnect = hook("onConnect")
/**
 * Run an Effect when a client's connection is gone.
 *
 * @since 0.1.0
 * @category utils
 */
export const onDisconnect = hook("onDisconnect")

/**
 * The running client listener.
 *
 * @since 0.1.0
 * @category errors
 */
export class NetServer extends Context.Tag("hotaru/NetServer")<
  NetServer,
  {
    /** The bound address (port 0 resolved). */
    readonly address: { readonly host: string; readonly port: number }
    /** Send `value` as command `command` to each listed connection; returns how many got it. */
    readonly push: <Name extends string, Req, Res>(
      command: NetCommand.Command<Name, Req, Res>,
      value: Res,
      to: Iterable<number>
    ) => Effect.Effect<number, NetCommand.BodyError>
    /** Send raw bytes under a command id (firefly's `pushObject(topicId, bytes, ids)`). */
    readonly pushRaw: (command: number, body: Uint8Array, to: Iterable<number>) => Effect.Effect<number>
    /** Send to every connected client; returns how many got it. */
    readonly broadcast: <Name extends string, Req, Res>(
      command: NetCommand.Command<Name, Req, Res>,
      value: Res
    ) => Effect.Effect<number, NetCommand.BodyError>
    /** Close one connection (after what was already written is flushed). False if unknown. */
    readonly kick: (id: number) => Effect.Effect<boolean>
    /** The connections open now. */
    readonly connections: Effect.Effect<ReadonlyArray<Connection>>
    /** Counters of the edge's limits and guards (for monitoring and tests). */
    readonly stats: Effect.Effect<Stats>
  }
>() {}

/**
 * Limits of the client edge. Every one has a default; the config file sets them in a server's
 * `limits` block (times there in seconds). A time of 0 turns that timer off.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  /** Connections open at once on this netport; more are closed at once (default 20,000). */
  readonly maxConnections?: number
  /** Connections open at once from one IP address (default 128). */
  readonly maxConnectionsPerIp?: number
  /** Addresses the per-IP cap does not apply to (default loopback: `127.0.0.1`, `::1`). */
  readonly perIpExempt?: ReadonlyArray<string>
  /**
   * Bytes queued for a client above which the server stops reading from it until they drain
   * (default 64 KiB).
   */
  readonly highWater?: number
  /**
   * Bytes queued for a client beyond which it is kicked as a slow consumer (default 4 MiB). One
   * batch written into an empty queue is always accepted, so replies larger than this still go.
   */
  readonly maxBuffered?: number
  /** A client whose queue stays above `highWater` this long is kicked (default 10 s). */
  readonly sendTimeout?: Duration.DurationInput
  /** A frame whose first byte arrived must be complete within this (default 30 s). */
  readonly frameTimeout?: Duration.DurationInput
  /** Deepest nesting of arrays/objects accepted in a JSON or msgpack body (default 64). */
  readonly maxDepth?: number
}

/**
 * The defaults of `Limits` and of `idleTimeout` / `maxInFlight`.
 *
 * @since 0.1.0
 * @category utils
 */
export const defaults = {
  maxConnections: 20_000,
  maxConnectionsPerIp: 128,
  perIpExempt: ["127.0.0.1", "::1"] as ReadonlyArray<string>,
  highWater: 64 * 1024,
  maxBuffered: 4 * 1024 * 1024,
  sendTimeout: Duration.seconds(10),
  frameTimeout: Duration.seconds(30),
  maxDepth: NetCommand.DEFAULT_MAX_DEPTH,
  idleTimeout: Duration.seconds(60),
  maxInFlight: 32
} as const

export type { FrameOptions } from "./internal/edge/frame.js"

/**
 * Options of the listener.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default `0.0.0.0`. */
  readonly host?: string
  /** 0 picks a free port. */
  readonly port: number
  /** Node name used in log annotations. */
  readonly node?: string
  readonly frame?: Partial<FrameOptions>
  /** Close a connection that sent nothing (and waits for nothing) this long (default 60 s; 0: never). */
  readonly idleTimeout?: Duration.DurationInput
  /** Requests of one connection handled at once; parsing and reading pause there (default 32). */
  readonly maxInFlight?: number
  /** TCP_NODELAY on client sockets (default true). */
  readonly noDelay?: boolean
  /** Limits of the edge (each has a default). */
  readonly limits?: Limits
  /**
   * Put internal error text (handler failure messages, defects, encode errors) in error frames.
   * For development only (default false: the `error` kind, the typed error's `tag`, no text).
   */
  readonly debugErrors?: boolean
}

/**
 * The options a server entry of the config file gives its netport (all but host and port).
 *
 * @since 0.1.0
 * @category utils
 */
export const configOptions = (server: HotaruConfig.ServerConfig): Omit<Options, "port" | "host" | "node"> => {
  const l = server.limits
  const limits: Limits | undefined =
    l === undefined
      ? undefined
      : {
          ...(l.maxConnections === undefined ? {} : { maxConnections: l.maxConnections }),
          ...(l.maxConnectionsPerIp === undefined ? {} : { maxConnectionsPerIp: l.maxConnectionsPerIp }),
          ...(l.perIpExempt === undefined ? {} : { perIpExempt: l.perIpExempt }),
          ...(l.highWater === undefined ? {} : { highWater: l.highWater }),
          ...(l.maxBuffered === undefined ? {} : { maxBuffered: l.maxBuffered }),
          ...(l.sendTimeout === undefined ? {} : { sendTimeout: Duration.seconds(l.sendTimeout) }),
          ...(l.frameTimeout === undefined ? {} : { frameTimeout: Duration.seconds(l.frameTimeout) }),
          ...(l.maxDepth === undefined ? {} : { maxDepth: l.maxDepth })
        }
  return {
    ...(server.frame === undefined ? {} : { frame: server.frame }),
    ...(server.idleTimeout === undefined ? {} : { idleTimeout: Duration.seconds(server.idleTimeout) }),
    ...(server.maxInFlight === undefined ? {} : { maxInFlight: server.maxInFlight }),
    ...(server.debugErrors === undefined ? {} : { debugErrors: server.debugErrors }),
    ...(limits === undefined ? {} : { limits })
  }
}

/**
 * What the edge counted since it started.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Connections open now. */
  readonly connections: number
  /** Connections accepted since start. */
  readonly accepted: number
  /** Connections refused by `maxConnections`. */
  readonly refusedMaxConnections: number
  /** Connections refused by `maxConnectionsPerIp`. */
  readonly refusedPerIp: number
  /** Connections closed for a bad header or length. */
  readonly frameViolations: number
  /** Connections closed because a started frame missed `frameTimeout`. */
  readonly frameTimeouts: number
  /** Connections closed by `idleTimeout`. */
  readonly idleTimeouts: number
  /** Connections kicked as slow consumers (`maxBuffered` or `sendTimeout`). */
  readonly slowConsumers: number
  /** Requests answered `BadRequest` / `UnknownCommand`. */
  readonly badRequests: number
  readonly unknownCommands: number
  /** Requests whose handler failed / died. */
  readonly handlerFailures: number
  readonly handlerDefects: number
  /** Connections closed by an unexpected error in the edge itself. */
  readonly edgeDefects: number
  /** Largest number of bytes seen queued for one live connection. */
  readonly peakBuffered: number
}

type Counter = Exclude<keyof Stats, "connections" | "peakBuffered">

interface Slot {
  done: boolean
  out: Buffer | undefined
  /** Gives up the handler's call started without a fiber (`DirectCall`), while it runs. */
  cancel: (() => void) | undefined
}

type Fork = (effect: Effect.Effect<unknown, unknown>) => Fiber.RuntimeFiber<unknown, unknown>

/** Why a connection does not read: bits of `ConnectionState.hold`. */
const HOLD_HOOKS = 1
const HOLD_IN_FLIGHT = 2
const HOLD_WRITE = 4
const HOLD_CLOSED = 8

/**
 * One connection, in plain code: no fiber, scope or timer per connection (an idle connection
 * costs little more than its Node socket), and replies of one tick leave in one write.
 */
class ConnectionState {
  readonly queue: Array<Slot> = []
  head = 0
  inFlight = 0
  /** `HOLD_*` bits: while non-zero, the socket is paused and no frame is parsed. */
  hold = 0
  socketPaused = false
  parsing = false
  /** Queued in the server's flush list for this tick, with the frames to write. */
  dirty = false
  first: Buffer | undefined = undefined
  rest: Array<Buffer> | undefined = undefined
  closed = false
  /** Counted in the per-IP table. */
  perIp = false
  lastActivity: number
  /** When the unfinished frame in the decoder started (0: none). */
  partialSince = 0
  /** When the socket's queue went above the high-water mark (0: it is not). */
  stalledSince = 0
  /** Bytes of this tick's batch (`first` + `rest`). */
  batchBytes = 0
  onFrame: Frame.OnFrame = () => false
  onDrain: (() => void) | undefined = undefined
  /** Per route, how this connection forks its handler fibers; made at the route's first fork. */
  forkers: WeakMap<Route, Fork> | undefined = undefined
  constructor(
    readonly info: Connection,
    readonly socket: Net.Socket,
    readonly decoder: Frame.Decoder,
    now: number
  ) {
    this.lastActivity = now
  }
}

const normalizeAddress = (address: string | undefined): string =>
  address === undefined ? "unknown" : address.startsWith("::ffff:") ? address.slice(7) : address

/** The error kind, message, tag and failure of a failed handler; never throws. */
const errorMessage = (
  cause: Cause.Cause<unknown>
): { error: NetCommand.ErrorBody["error"]; message: string; tag?: string; failure?: unknown } => {
  try {
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure)) {
      const e = failure.value
      const tag =
        typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : undefined
      const message =
        e instanceof Error ? String(e.message) : typeof e === "string" ? e : (JSON.stringify(e) ?? String(e))
      return tag === undefined
        ? { error: "HandlerFailed", message, failure: e }
        : { error: "HandlerFailed", message, tag, failure: e }
    }
    return { error: "Defect", message: Cause.pretty(cause).split("\n")[0] ?? "defect" }
  } catch {
    return {
      error: Cause.isFailure(cause) ? "HandlerFailed" : "Defect",
      message: "the error could not be described"
    }
  }
}

const millisOf = (d: Duration.DurationInput): number => {
  const ms = Duration.toMillis(d)
  return Number.isFinite(ms) && ms > 0 ? ms : 0
}

/**
 * Start the listener; routes come from the `NetRouter` in context (filled before this is built).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Context.Tag.Service<NetServer>, NetServerError, NetRouter | Scope.Scope> =>
  Effect.gen(function* () {
    const router = yield* NetRouter
    const frame = Frame.frameOptions(options.frame)
    const limits = options.limits ?? {}
    const maxInFlight = options.maxInFlight ?? defaults.maxInFlight
    const idleMillis = millisOf(options.idleTimeout ?? defaults.idleTimeout)
    const frameMillis = millisOf(limits.frameTimeout ?? defaults.frameTimeout)
    const sendMillis = millisOf(limits.sendTimeout ?? defaults.sendTimeout)
    const maxConnections = limits.maxConnections ?? defaults.maxConnections
    const maxPerIp = limits.maxConnectionsPerIp ?? defaults.maxConnectionsPerIp
    const exempt = new Set(limits.perIpExempt ?? defaults.perIpExempt)
    const highWater = limits.highWater ?? defaults.highWater
    const maxBuffered = limits.maxBuffered ?? defaults.maxBuffered
    const decodeOptions: NetCommand.DecodeOptions = { maxDepth: limits.maxDepth ?? defaults.maxDepth }
    const debugErrors = options.debugErrors ?? false
    const host = options.host ?? "0.0.0.0"
    const noDelay = options.noDelay ?? true
    const node = options.node ?? "net"
    const clock = yield* Effect.clock
    const states = new Map<number, ConnectionState>()
    const perIp = new Map<string, number>()
    let nextId = 0
    let peakBuffered = 0
    const counters: Record<Counter, number> = {
      accepted: 0,
      refusedMaxConnections: 0,
      refusedPerIp: 0,
      frameViolations: 0,
      frameTimeouts: 0,
      idleTimeouts: 0,
      slowConsumers: 0,
      badRequests: 0,
      unknownCommands: 0,
      handlerFailures: 0,
      handlerDefects: 0,
      edgeDefects: 0
    }

    const runtime = yield* Effect.runtime<never>()
    const runPlain = Runtime.runFork(runtime)
    const debugEnabled = LogLevel.greaterThanEqual(
      LogLevel.Debug,
      FiberRefs.getOrDefault(runtime.fiberRefs, FiberRef.currentMinimumLogLevel)
    )
    const annotate = (info: Connection) => Effect.annotateLogs({ node, conn: info.id })

    // -- logs a client can trigger are rate-limited per kind, with the count of what was left out
    const logLimit = LogLimit.make({ clock })
    const report = (
      counter: Counter,
      info: Connection | undefined,
      level: "warning" | "error",
      message: () => string,
      cause?: Cause.Cause<unknown>
    ) => {
      const count = ++counters[counter]
      logLimit.report(counter, (suppressed) => {
        const text = `${message()} [${counter} #${count}${suppressed > 0 ? `, ${suppressed} similar not logged` : ""}]`
        const log =
          level === "error"
            ? cause === undefined
              ? Effect.logError(text)
              : Effect.logError(text, cause)
            : Effect.logWarning(text)
        runPlain(info === undefined ? log.pipe(Effect.annotateLogs({ node })) : log.pipe(annotate(info)))
      })
    }

    /** Stop reading and close the connection now (its close event does the rest). */
    const close = (state: ConnectionState) => {
      state.hold |= HOLD_CLOSED
      state.socket.destroy()
    }

    /** The connection could not be handled safely: close it, count and log (rate-limited). */
    const edgeDefect = (state: ConnectionState, defect: unknown) => {
      close(state)
      report(
        "edgeDefects",
        state.info,
        "error",
        () => "closing connection after an internal error",
        Cause.die(defect)
      )
    }

    const slowConsumer = (state: ConnectionState, why: () => string) => {
      close(state)
      report("slowConsumers", state.info, "warning", () => `kicking slow consumer: ${why()}`)
    }

    // -- writes: the frames a connection gets within a tick leave in one write, at the end of it.
    // Bytes queued for a connection (this tick's batch + what its socket holds) never pass
    // `maxBuffered` (one buffer into an empty queue excepted): the connection is kicked instead;
    // above `highWater` it stops being read and parsed until its socket drains.
    let flushList: Array<ConnectionState> = []
    const flushOne = (state: ConnectionState) => {
      const { first, rest } = state
      state.dirty = false
      state.first = undefined
      state.rest = undefined
      state.batchBytes = 0
      const socket = state.socket
      if (first === undefined || socket.destroyed) return
      const ok = socket.write(rest === undefined ? first : Buffer.concat([first, ...rest]))
      const after = socket.writableLength
      if (after > peakBuffered) peakBuffered = after
      if (!ok) {
        hold(state, HOLD_WRITE)
        if (state.stalledSince === 0) {
          state.stalledSince = clock.unsafeCurrentTimeMillis()
          state.onDrain ??= () => {
            state.stalledSince = 0
            release(state, HOLD_WRITE)
          }
          socket.once("drain", state.onDrain)
        }
      } else if ((state.hold & HOLD_WRITE) !== 0 && state.stalledSince === 0) {
        // held for the size of this batch only: the socket took it
        release(state, HOLD_WRITE)
      }
    }
    const flushAll = () => {
      const list = flushList
      flushList = []
      for (const state of list) {
        if (!state.dirty) continue
        try {
          flushOne(state)
        } catch (defect) {
          edgeDefect(state, defect)
        }
      }
    }
    const write = (state: ConnectionState, buf: Buffer) => {
      const socket = state.socket
      if (socket.destroyed) return
      const queued = state.batchBytes + socket.writableLength
      const total = queued + buf.length
      if (total > maxBuffered && queued !== 0) {
        return slowConsumer(
          state,
          () => `${queued} bytes queued, ${buf.length} more (maxBuffered ${maxBuffered})`
        )
      }
      state.batchBytes += buf.length
      if (!state.dirty) {
        state.dirty = true
        state.first = buf
        if (flushList.length === 0) process.nextTick(flushAll)
        flushList.push(state)
      } else if (state.rest === undefined) {
        state.rest = [buf]
      } else {
        state.rest.push(buf)
      }
      if (total > highWater) hold(state, HOLD_WRITE)
    }

    // -- reading: paused while any hold bit is set; frames are parsed only while none is
    const hold = (state: ConnectionState, bit: number) => {
      state.hold |= bit
      if (!state.socketPaused && !state.socket.destroyed) {
        state.socketPaused = true
        state.socket.pause()
      }
    }
    const release = (state: ConnectionState, bit: number) => {
      if ((state.hold & bit) === 0) return
      state.hold &= ~bit
      if (state.hold !== 0 || state.socket.destroyed || state.parsing) return
      // the unfinished frame's deadline restarts: the client could not send while we did not read
      state.partialSince = 0
      if (state.decoder.buffered !== 0) {
        state.parsing = true
        try {
          parsed(state, state.decoder.resume(state.onFrame), clock.unsafeCurrentTimeMillis())
        } catch (defect) {
          edgeDefect(state, defect)
        } finally {
          state.parsing = false
        }
      }
      if (state.hold === 0 && state.socketPaused && !state.socket.destroyed) {
        state.socketPaused = false
        state.socket.resume()
      }
    }
    /** After a parse: close on a violation, else track the unfinished frame's deadline. */
    const parsed = (state: ConnectionState, violation: Frame.FrameViolation | undefined, now: number) => {
      if (violation !== undefined) {
        close(state)
        report(
          "frameViolations",
          state.info,
          "warning",
          () => `closing connection: ${violation.reason}: ${violation.detail}`
        )
        return
      }
      if (state.decoder.buffered === 0 || state.decoder.isStopped) state.partialSince = 0
      else if (state.partialSince === 0) state.partialSince = now
    }

    const deliver = (command: number, body: Uint8Array, to: Iterable<number>): number => {
      let buf: Buffer | undefined
      let n = 0
      for (const id of to) {
        const state = states.get(id)
        if (state === undefined || state.socket.destroyed) continue
        buf ??= Frame.encode(frame, command, body)
        write(state, buf)
        n++
      }
      return n
    }

    // -- the listener; its sockets' write high-water mark is `highWater` (write() says when to hold)
    const server = Net.createServer({ noDelay, highWaterMark: highWater })
    const bound = yield* Effect.acquireRelease(
      Effect.async<{ readonly host: string; readonly port: number }, NetServerError>((resume) => {
        const onError = (cause: Error) =>
          resume(Effect.fail(new NetServerError({ reason: "Listen", host, port: options.port, cause })))
        server.once("error", onError)
        server.listen({ host, port: options.port, backlog: 4096 }, () => {
          server.off("error", onError)
          const address = server.address()
          resume(
            Effect.succeed(
              typeof address === "object" && address !== null
                ? { host: address.address, port: address.port }
                : { host, port: options.port }
            )
          )
        })
      }),
      () =>
        Effect.gen(function* () {
          server.close()
          // connections close with the server: their disconnect hooks run here, in its scope
          const open = [...states.values()]
          for (const state of open) state.socket.destroy()
          yield* Effect.forEach(open, disconnected, { discard: true })
        })
    )
    server.on("error", (cause) => runPlain(Effect.logError("netport listener error", cause)))

    const service: Context.Tag.Service<NetServer> = {
      address: bound,
      push: (command, value, to) =>
        Either.match(command.encodeResponse(value), {
          onLeft: (e) => Effect.fail(e),
          onRight: (body) => Effect.sync(() => deliver(command.id, body, to))
        }),
      pushRaw: (command, body, to) => Effect.sync(() => deliver(command, body, to)),
      broadcast: (command, value) =>
        Either.match(command.encodeResponse(value), {
          onLeft: (e) => Effect.fail(e),
          onRight: (body) => Effect.sync(() => deliver(command.id, body, states.keys()))
        }),
      kick: (id) =>
        Effect.sync(() => {
          const state = states.get(id)
          if (state === undefined) return false
          flushOne(state)
          state.socket.end()
          state.socket.destroySoon()
          return true
        }),
      connections: Effect.sync(() => Array.from(states.values(), (s) => s.info)),
      stats: Effect.sync(() => ({ connections: states.size, peakBuffered, ...counters }))
    }

    // -- handlers: a fiber only when the handler's Effect is not already an Exit
    const handlers = yield* FiberSet.make<unknown, unknown>()
    // closing the server gives up the calls started without a fiber, as it interrupts the fibers
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const state of states.values()) {
          for (let i = state.head; i < state.queue.length; i++) {
            const slot = state.queue[i]!
            const cancel = slot.cancel
            slot.cancel = undefined
            cancel?.()
          }
        }
      })
    )
    /** Per route (routes may be swapped at run time): its captured context plus `NetServer`. */
    const routeContexts = new WeakMap<Route, Context.Context<never>>()
    /**
     * The fork of one connection's fibers for one route: a runtime holding the route's context
     * + `NetServer` + `CurrentConnection` and the `{node, conn}` log annotations, built once.
     */
    const forkOf = (state: ConnectionState, route: Route): Fork => {
      state.forkers ??= new WeakMap()
      let fork = state.forkers.get(route)
      if (fork === undefined) {
        let base = routeContexts.get(route)
        if (base === undefined) {
          base = Context.add(route.context, NetServer, service) as Context.Context<never>
          routeContexts.set(route, base)
        }
        fork = Runtime.runFork(
          Runtime.make({
            context: Context.add(base, CurrentConnection, state.info) as Context.Context<never>,
            fiberRefs: FiberRefs.updateAs(runtime.fiberRefs, {
              fiberId: FiberId.none,
              fiberRef: FiberRef.currentLogAnnotations,
              value: HashMap.make(["node", node as unknown], ["conn", state.info.id as unknown])
            }),
            runtimeFlags: runtime.runtimeFlags
          })
        ) as Fork
        state.forkers.set(route, fork)
      }
      return fork
    }

    const errorFrame = (body: NetCommand.ErrorBody): Buffer =>
      Frame.encode(frame, NetCommand.ERROR_COMMAND, Buffer.from(JSON.stringify(body), "utf8"))

    const flush = (state: ConnectionState) => {
      const q = state.queue
      while (state.head < q.length && q[state.head]!.done) {
        const slot = q[state.head]!
        if (slot.out !== undefined) write(state, slot.out)
        state.head++
      }
      if (state.head === q.length) {
        q.length = 0
        state.head = 0
      }
    }

    const complete = (state: ConnectionState, slot: Slot, out: Buffer | undefined) => {
      slot.done = true
      slot.out = out
      state.inFlight--
      flush(state)
      if ((state.hold & HOLD_IN_FLIGHT) !== 0 && state.inFlight < maxInFlight) release(state, HOLD_IN_FLIGHT)
    }

    /** Turn a handler's Exit into the slot's reply (or error frame). */
    const settle = (
      state: ConnectionState,
      slot: Slot,
      route: Route,
      command: number,
      exit: Exit.Exit<unknown, unknown>
    ) => {
      if (Exit.isSuccess(exit)) {
        const value = exit.value
        if (value === undefined) return complete(state, slot, undefined)
        const encoded = route.command.encodeResponse(value as never)
        if (Either.isRight(encoded)) return complete(state, slot, Frame.encode(frame, command, encoded.right))
        report("handlerDefects", state.info, "error", () => encoded.left.message)
        return complete(
          state,
          slot,
          errorFrame({
            command,
            error: "Defect",
            message: debugErrors ? encoded.left.message : "internal error"
          })
        )
      }
      if (Cause.isInterruptedOnly(exit.cause)) return complete(state, slot, undefined)
      const { error, message, tag, failure } = errorMessage(exit.cause)
      if (error === "Defect") {
        report("handlerDefects", state.info, "error", () => `${route.command.name} died`, exit.cause)
      } else {
        report("handlerFailures", state.info, "warning", () => `${route.command.name} failed: ${message}`)
      }
      const shown = debugErrors
        ? message
        : error === "Defect"
          ? "internal error"
          : `${route.command.name} failed`
      // a declared error goes to the client whole, encoded by the command's error Schema
      const value = error === "Defect" ? Option.none() : route.command.encodeError(failure)
      const errorBody: NetCommand.ErrorBody =
        tag === undefined
          ? { command, error, message: shown }
          : Option.isSome(value)
            ? { command, error, message: shown, tag, value: value.value }
            : { command, error, message: shown, tag }
      complete(state, slot, errorFrame(errorBody))
    }
    const settleGuarded = (
      state: ConnectionState,
      slot: Slot,
      route: Route,
      command: number,
      exit: Exit.Exit<unknown, unknown>
    ) => {
      try {
        settle(state, slot, route, command, exit)
      } catch (defect) {
        edgeDefect(state, defect)
      }
    }

    const badRequest = (route: Route, e: NetCommand.BodyError): string => {
      if (debugErrors) return e.message
      const what =
        e.problem === "Depth"
          ? `nests deeper than ${decodeOptions.maxDepth}`
          : e.problem === "Schema"
            ? "does not match the request schema"
            : `is not valid ${route.command.codec}`
      return `the body of command ${e.command} ${what}`
    }

    /** One frame of a connection; returns whether parsing may go on (no hold). */
    const dispatch = (state: ConnectionState, command: number, body: Uint8Array): boolean => {
      const slot: Slot = { done: false, out: undefined, cancel: undefined }
      state.queue.push(slot)
      state.inFlight++
      const route = router.routes.get(command)
      if (route === undefined) {
        report("unknownCommands", state.info, "warning", () => `unknown command ${command}`)
        complete(
          state,
          slot,
          errorFrame({ command, error: "UnknownCommand", message: `no handler for command ${command}` })
        )
        return state.hold === 0
      }
      const request = route.command.decodeRequest(body, decodeOptions)
      if (Either.isLeft(request)) {
        const e = request.left
        report("badRequests", state.info, "warning", () => e.message)
        complete(state, slot, errorFrame({ command, error: "BadRequest", message: badRequest(route, e) }))
        return state.hold === 0
      }
      let effect: Effect.Effect<unknown, unknown, unknown>
      try {
        effect = route.handler(request.right, state.info)
      } catch (defect) {
        settle(state, slot, route, command, Exit.die(defect))
        return state.hold === 0
      }
      if (debugEnabled) effect = Effect.zipRight(Effect.logDebug(`call method ${route.command.name}`), effect)
      // Effect.succeed / fail / die / void are already Exits: answer them without a fiber
      if (Exit.isExit(effect)) {
        settle(state, slot, route, command, effect)
        return state.hold === 0
      }
      if (!Effect.isEffect(effect)) {
        settle(
          state,
          slot,
          route,
          command,
          Exit.die(new TypeError(`${route.command.name}: handler returned no Effect`))
        )
        return state.hold === 0
      }
      // a handler that only makes a node-RPC call (`(req) => backend.echo(req)`): the call is
      // started here and its reply settles the slot from the link's callback, no fiber
      if (DirectCall.isDirectCall(effect)) {
        let cancel: (() => void) | undefined
        try {
          cancel = effect.start(runtime.fiberRefs, (exit) => {
            slot.cancel = undefined
            settleGuarded(state, slot, route, command, exit)
          })
        } catch (defect) {
          // a schema transformation threw while encoding the call (a fiber would die of it)
          if (!slot.done) settle(state, slot, route, command, Exit.die(defect))
          return state.hold === 0
        }
        if (cancel !== undefined) {
          if (!slot.done) slot.cancel = cancel
          if (state.inFlight >= maxInFlight) hold(state, HOLD_IN_FLIGHT)
          return state.hold === 0
        }
      }
      const fiber = forkOf(state, route)(effect as Effect.Effect<unknown, unknown>)
      FiberSet.unsafeAdd(handlers, fiber)
      fiber.addObserver((exit) => settleGuarded(state, slot, route, command, exit))
      if (state.inFlight >= maxInFlight) hold(state, HOLD_IN_FLIGHT)
      return state.hold === 0
    }

    const runHooks = (hooks: ReadonlyArray<Hook>, info: Connection) =>
      Effect.forEach(hooks, (h) => h(info), { discard: true }).pipe(
        Effect.provideService(NetServer, service),
        Effect.catchAllCause((cause) => Effect.logError("connection hook failed", cause))
      )

    /** Forget a closed connection, log it and run the disconnect hooks (once). */
    function disconnected(state: ConnectionState): Effect.Effect<void> {
      if (state.closed) return Effect.void
      state.closed = true
      states.delete(state.info.id)
      if (state.perIp) {
        const ip = state.info.remoteAddress
        const n = (perIp.get(ip) ?? 1) - 1
        if (n <= 0) perIp.delete(ip)
        else perIp.set(ip, n)
      }
      return Effect.zipRight(
        Effect.log(`Client ${state.info.id} login out.`),
        router.onDisconnect.length === 0 ? Effect.void : runHooks(router.onDisconnect, state.info)
      ).pipe(annotate(state.info))
    }

    const refuse = (socket: Net.Socket, counter: Counter, why: () => string) => {
      socket.on("error", () => {})
      socket.destroy()
      report(counter, undefined, "warning", why)
    }

    const accept = (socket: Net.Socket) => {
      const remoteAddress = normalizeAddress(socket.remoteAddress)
      if (states.size >= maxConnections) {
        return refuse(
          socket,
          "refusedMaxConnections",
          () =>
            `refusing a connection from ${remoteAddress}: ${maxConnections} connections open (maxConnections)`
        )
      }
      const counted = !exempt.has(remoteAddress)
      if (counted) {
        const n = perIp.get(remoteAddress) ?? 0
        if (n >= maxPerIp) {
          return refuse(
            socket,
            "refusedPerIp",
            () => `refusing a connection from ${remoteAddress}: ${n} open from it (maxConnectionsPerIp)`
          )
        }
        perIp.set(remoteAddress, n + 1)
      }
      counters.accepted++
      const info: Connection = { id: nextId++, remoteAddress, remotePort: socket.remotePort ?? 0 }
      const state = new ConnectionState(
        info,
        socket,
        new Frame.Decoder(frame),
        clock.unsafeCurrentTimeMillis()
      )
      state.perIp = counted
      state.onFrame = (command, body) => dispatch(state, command, body)
      states.set(info.id, state)
      socket.on("data", (chunk: Buffer) => {
        const now = clock.unsafeCurrentTimeMillis()
        state.lastActivity = now
        if (state.hold !== 0 || state.parsing) {
          state.decoder.append(chunk)
          return
        }
        state.parsing = true
        try {
          parsed(state, state.decoder.push(chunk, state.onFrame), now)
        } catch (defect) {
          edgeDefect(state, defect)
        } finally {
          state.parsing = false
        }
        if (state.hold === 0 && state.socketPaused && !socket.destroyed) {
          state.socketPaused = false
          socket.resume()
        }
      })
      socket.on("error", () => {})
      socket.on("close", () => {
        if (!state.closed) runPlain(disconnected(state))
      })
      const login = Effect.log(`Client ${info.id} login in.[${info.remoteAddress},${info.remotePort}]`)
      if (router.onConnect.length === 0) {
        runPlain(login.pipe(annotate(info)))
        return
      }
      // requests wait until the connect hooks are done
      hold(state, HOLD_HOOKS)
      runPlain(Effect.zipRight(login, runHooks(router.onConnect, info)).pipe(annotate(info))).addObserver(
        () => release(state, HOLD_HOOKS)
      )
    }
    server.on("connection", (socket: Net.Socket) => {
      try {
        accept(socket)
      } catch (defect) {
        socket.destroy()
        report("edgeDefects", undefined, "error", () => "could not accept a connection", Cause.die(defect))
      }
    })

    // -- one sweep for every connection's timers (no timer per connection)
    const timers = [idleMillis, frameMillis, sendMillis].filter((ms) => ms > 0)
    const sweep = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      for (const state of states.values()) {
        if (state.socket.destroyed) continue
        if (sendMillis > 0 && state.stalledSince !== 0 && now - state.stalledSince >= sendMillis) {
          const since = state.stalledSince
          slowConsumer(state, () => `its replies were not read for ${now - since} ms (sendTimeout)`)
        } else if (frameMillis > 0 && state.partialSince !== 0 && now - state.partialSince >= frameMillis) {
          close(state)
          report(
            "frameTimeouts",
            state.info,
            "warning",
            () => `closing connection: a frame took over ${frameMillis} ms`
          )
        } else if (idleMillis > 0 && state.inFlight === 0 && now - state.lastActivity >= idleMillis) {
          close(state)
          ++counters.idleTimeouts
          if (debugEnabled)
            runPlain(Effect.logDebug(`closing idle connection ${state.info.id}`).pipe(annotate(state.info)))
        }
      }
      logLimit.flush((key, suppressed) =>
        runPlain(
          Effect.logWarning(`${suppressed} more ${key} not logged in the last window`).pipe(
            Effect.annotateLogs({ node })
          )
        )
      )
    })
    if (timers.length > 0) {
      yield* sweep.pipe(
        Effect.catchAllDefect((defect) => Effect.logError("netport sweep failed", defect)),
        Effect.repeat(
          Schedule.spaced(Duration.millis(Math.max(10, Math.min(1000, Math.min(...timers) / 4))))
        ),
        Effect.forkScoped
      )
    }

    yield* Effect.log(`netport listening on ${bound.host}:${bound.port}`).pipe(Effect.annotateLogs({ node }))
    return service
  })

/**
 * The listener as a Layer; it needs the `NetRouter` its handlers were registered in.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<NetServer, NetServerError, NetRouter> =>
  Layer.scoped(NetServer, make(options))

/**
 * The listener with its app: builds a router, the app's handler layers into it, then listens.
 *
 * @since 0.1.0
 * @category utils
 */
export const serve = <E, R>(
  app: Layer.Layer<never, E, R>,
  options: Options
): Layer.Layer<NetServer, E | NetServerError, Exclude<R, NetRouter>> =>
  layer(options).pipe(Layer.provide(app), Layer.provide(layerRouter)) as Layer.Layer<
    NetServer,
    E | NetServerError,
    Exclude<R, NetRouter>
  >
