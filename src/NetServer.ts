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
 *   kicked), a deadline for a started frame, a deadline for a request's answer (`requestTimeout`,
 *   default 30 s: past it the request is answered a `Timeout` error frame in its place and its
 *   handler interrupted, so one call that never returns cannot hold up the replies queued behind
 *   it), and `idleTimeout` (default 60 s);
 * - a handler runs to completion even if its client leaves (no half-done writes), unless it runs
 *   past `requestTimeout` (then it is interrupted: keep a write that must not stop half-way in
 *   `Effect.uninterruptible`, and treat a timed-out call's outcome as unknown, e.g. a persisted
 *   entity message may still be processed);
 * - with `resume` (see `ResumeOptions`), a bound session outlives a dropped connection for the
 *   window and a reconnecting client takes it back with the frames it missed (see `Session`);
 *   command ids from `NetCommand.SYSTEM_COMMANDS` up are the edge's own frames.
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

import { Context, Data, Duration, Effect, Layer, Option, type Scope } from "effect"
import { identity } from "effect/Function"
import type * as Types from "effect/Types"
import type * as HotaruConfig from "./HotaruConfig.js"
import * as Core from "./internal/edge/core.js"
import { Handover } from "./internal/edge/handoverWire.js"
import { type EdgeOptions, type Limits, settings } from "./internal/edge/limits.js"
import { type HookKind, layerRouter, NetRouter, type Route } from "./internal/edge/router.js"
import { type Connection, CurrentConnection, NetServer } from "./internal/edge/service.js"
import type { DuplicatePolicy } from "./internal/edge/sessions.js"
import * as TcpTransport from "./internal/edge/tcpTransport.js"
import type { WebSocketOptions } from "./internal/edge/wsTransport.js"
import * as WsTransport from "./internal/edge/wsTransport.js"
import type * as NetCommand from "./NetCommand.js"
import type { NodeUnavailable } from "./NodeError.js"

export type { FrameOptions } from "./internal/edge/frame.js"
export { defaults, type Limits, type ResumeOptions } from "./internal/edge/limits.js"
export {
  type Hook,
  type HookKind,
  layerRouter,
  makeRouter,
  NetRouter,
  type Route,
  type Router
} from "./internal/edge/router.js"
export {
  type Address,
  type Addresses,
  type Connection,
  CurrentConnection,
  NetServer,
  type Stats
} from "./internal/edge/service.js"
export type { WebSocketOptions } from "./internal/edge/wsTransport.js"

/**
 * The listener could not start.
 *
 * @since 0.1.0
 * @category errors
 */
export class NetServerError extends Data.TaggedError("NetServerError")<{
  /** `Listen`: a listener could not bind; `NoListener`: neither `port` nor `webSocket` was given. */
  readonly reason: "Listen" | "NoListener"
  /** The listener that could not bind. */
  readonly listener: "netport" | "wsport"
  readonly host: string
  readonly port: number
  readonly cause: unknown
}> {
  override get message(): string {
    return this.reason === "NoListener"
      ? "netport: nothing to listen on (set port or webSocket)"
      : `${this.listener} ${this.host}:${this.port}: cannot listen (${String(this.cause)})`
  }
}

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
  (which: HookKind) =>
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
 * Run an Effect when a client's connection is gone. With `resume` on, a bound connection is gone
 * when its session ends (its window passed without a resume): a resumed session is the same
 * connection, same id; the connection that resumed it is gone as itself at once.
 *
 * @since 0.1.0
 * @category utils
 */
export const onDisconnect = hook("onDisconnect")

const sessionHook =
  (which: "onBind" | "onClose") =>
  <R>(
    f: (uid: string, connection: Connection) => Effect.Effect<void, never, R>
  ): Layer.Layer<never, never, NetRouter | Exclude<R, Provided>> =>
    hook(which)((connection) =>
      Effect.flatMap(NetServer, (server) =>
        Effect.flatMap(server.uidOf(connection.id), (uid) =>
          uid._tag === "Some" ? f(uid.value, connection) : Effect.void
        )
      )
    )

/**
 * Run an Effect when a connection is bound to player `uid` (`Session.bind`; not again when its
 * session is resumed). It runs inside `Session.bind`, after the resume token is sent.
 *
 * @since 0.1.0
 * @category utils
 */
export const onBind = sessionHook("onBind")
/**
 * Run an Effect when player `uid`'s session ends: its connection closed (with resume on: its
 * window passed without a resume, or it was kicked, or a new login replaced it). It runs before
 * the connection's `onDisconnect` hooks and still reads the session data.
 *
 * @since 0.1.0
 * @category utils
 */
export const onClose = sessionHook("onClose")

/**
 * Options of the listener.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends EdgeOptions {
  /** Default `0.0.0.0`. */
  readonly host?: string
  /** The TCP port (0 picks a free one); absent: no TCP listener (then `webSocket` is required). */
  readonly port?: number
  /** TCP_NODELAY on client sockets (default true). */
  readonly noDelay?: boolean
  /** Also (or only) serve WebSocket clients: browsers (see `WebSocketOptions`). */
  readonly webSocket?: WebSocketOptions
  /** What a second `Session.bind` of a bound uid does (default `kick` the old connection). */
  readonly duplicateLogin?: DuplicatePolicy
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
          ...(l.requestTimeout === undefined ? {} : { requestTimeout: Duration.seconds(l.requestTimeout) }),
          ...(l.maxDepth === undefined ? {} : { maxDepth: l.maxDepth })
        }
  return {
    ...(server.frame === undefined ? {} : { frame: server.frame }),
    ...(server.idleTimeout === undefined ? {} : { idleTimeout: Duration.seconds(server.idleTimeout) }),
    ...(server.maxInFlight === undefined ? {} : { maxInFlight: server.maxInFlight }),
    ...(server.debugErrors === undefined ? {} : { debugErrors: server.debugErrors }),
    ...(server.duplicateLogin === undefined ? {} : { duplicateLogin: server.duplicateLogin }),
    ...(server.resume === undefined
      ? {}
      : {
          resume: {
            window: Duration.seconds(server.resume.window),
            ...(server.resume.buffer === undefined ? {} : { buffer: server.resume.buffer }),
            ...(server.resume.bufferBytes === undefined ? {} : { bufferBytes: server.resume.bufferBytes }),
            ...(server.resume.drain === undefined ? {} : { drain: Duration.seconds(server.resume.drain) })
          }
        }),
    ...(limits === undefined ? {} : { limits })
  }
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
    const resolved = settings(options)
    const node = resolved.node
    if (options.port === undefined && options.webSocket === undefined) {
      return yield* new NetServerError({
        reason: "NoListener",
        listener: "netport",
        host: "",
        port: 0,
        cause: undefined
      })
    }
    // a node linked to a master reaches the other fronts for their resume tokens
    const handover = yield* Effect.serviceOption(Handover)
    const core = yield* Core.make(resolved, router, options.duplicateLogin, Option.getOrUndefined(handover))
    if (options.port !== undefined) {
      const host = options.host ?? "0.0.0.0"
      const bound = yield* TcpTransport.listen(
        core,
        { host, port: options.port, noDelay: options.noDelay ?? true, highWater: resolved.highWater },
        ({ cause, host, port }) =>
          new NetServerError({ reason: "Listen", listener: "netport", host, port, cause })
      )
      yield* Effect.log(`netport listening on ${bound.host}:${bound.port}`).pipe(
        Effect.annotateLogs({ node })
      )
    }
    if (options.webSocket !== undefined) {
      const bound = yield* WsTransport.listen(
        core,
        resolved,
        options.webSocket,
        ({ cause, host, port }) =>
          new NetServerError({ reason: "Listen", listener: "wsport", host, port, cause })
      )
      yield* Effect.log(`wsport listening on ${bound.host}:${bound.port}`).pipe(Effect.annotateLogs({ node }))
    }
    return core.service
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
