/**
 * The `netport` capability: game clients over TCP speaking firefly's 17-byte frame.
 *
 * Handlers are registered as Layers (`NetServer.handle`), so an app module is a Layer:
 *
 * ```ts
 * const Echo = Command.text(100, { name: "netHandle_100" })
 * const App = NetServer.handle(Echo, (body, conn) => Effect.succeed(`${conn.id}: ${body}`))
 * const Net = NetServer.serve(App, { port: 10001 })
 * ```
 *
 * Semantics (firefly's, plus what it lacked):
 * - each request is answered under its own command id; a handler that returns `undefined` sends
 *   nothing (firefly's `None`);
 * - requests of one connection run concurrently up to `maxInFlight` (reading pauses beyond that)
 *   and are answered in the order they arrived;
 * - an unknown command, a body that does not decode, or a handler failure/defect answers one
 *   error frame (command id `Command.ERROR_COMMAND` = 0xFFFFFFFF, JSON body `Command.ErrorBody`)
 *   in that request's place; nothing else is affected;
 * - a bad header, a length < 4 or a body above `frame.maxLength` closes that connection at once
 *   (logged), never buffering the body; an idle connection is closed after `idleTimeout`;
 * - a handler runs to completion even if its client leaves (no half-done writes).
 *
 * Performance (see BENCHMARKS.md): connections are plain `node:net` callbacks (no fiber, scope
 * or timer per connection); a handler whose Effect is already an `Exit` (`Effect.succeed`,
 * `fail`, `void`…) is answered without a fiber, any other runs in its own fiber; the replies and
 * pushes one connection gets within a tick leave in one write.
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
import * as Command from "./Command.js"
import * as Frame from "./internal/frame.js"

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

interface Route {
  readonly command: Command.Any
  /** The handler as written; it may need `Provided` and what `context` holds. */
  readonly handler: (request: unknown, connection: Connection) => Effect.Effect<unknown, unknown, unknown>
  /** What the handler's layer captured when it was built. */
  readonly context: Context.Context<never>
}

type Hook = (connection: Connection) => Effect.Effect<void, never, NetServer>

/**
 * The routes and hooks of a node, filled by `handle` / `onConnect` / `onDisconnect` layers.
 *
 * @since 0.1.0
 * @category services
 */
export class NetRouter extends Context.Tag("hotaru/NetServer/NetRouter")<
  NetRouter,
  {
    readonly routes: Map<number, Route>
    readonly onConnect: Array<Hook>
    readonly onDisconnect: Array<Hook>
  }
>() {
  /** A fresh, empty router. */
  static readonly layer: Layer.Layer<NetRouter> = Layer.sync(NetRouter, () => ({
    routes: new Map(),
    onConnect: [],
    onDisconnect: []
  }))
}

/**
 * Context a handler may use without declaring it: provided per request by the server.
 *
 * @since 0.1.0
 * @category models
 */
export type Provided = NetServer | CurrentConnection

/**
 * Register the handler of a command. The handler's other requirements are captured when the
 * layer is built. Registering the same command id twice is a defect at start-up.
 *
 * @since 0.1.0
 * @category utils
 */
export const handle = <Name extends string, Req, Res, E, R>(
  command: Command.Command<Name, Req, Res>,
  handler: (request: Req, connection: Connection) => Effect.Effect<Res | undefined | void, E, R>
): Layer.Layer<never, never, NetRouter | Exclude<R, Provided>> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const router = yield* NetRouter
      const context = yield* Effect.context<Exclude<R, Provided>>()
      if (router.routes.has(command.id)) {
        return yield* Effect.dieMessage(
          `command ${command.id} (${command.name}) has two handlers: ${router.routes.get(command.id)?.command.name} and ${command.name}`
        )
      }
      router.routes.set(command.id, {
        command: command as unknown as Command.Any,
        handler: handler as Route["handler"],
        context: context as Context.Context<never>
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
        router[which].push(
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
      command: Command.Command<Name, Req, Res>,
      value: Res,
      to: Iterable<number>
    ) => Effect.Effect<number, Command.BodyError>
    /** Send raw bytes under a command id (firefly's `pushObject(topicId, bytes, ids)`). */
    readonly pushRaw: (command: number, body: Uint8Array, to: Iterable<number>) => Effect.Effect<number>
    /** Send to every connected client; returns how many got it. */
    readonly broadcast: <Name extends string, Req, Res>(
      command: Command.Command<Name, Req, Res>,
      value: Res
    ) => Effect.Effect<number, Command.BodyError>
    /** Close one connection (after what was already written is flushed). False if unknown. */
    readonly kick: (id: number) => Effect.Effect<boolean>
    /** The connections open now. */
    readonly connections: Effect.Effect<ReadonlyArray<Connection>>
  }
>() {}

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
  readonly frame?: Partial<Frame.FrameOptions>
  /** Close a connection that sent nothing for this long (default: never). */
  readonly idleTimeout?: Duration.DurationInput
  /** Requests of one connection handled at once before reading pauses (default 32). */
  readonly maxInFlight?: number
  /** TCP_NODELAY on client sockets (default true). */
  readonly noDelay?: boolean
}

interface Slot {
  done: boolean
  out: Buffer | undefined
}

type Fork = (effect: Effect.Effect<unknown, unknown>) => Fiber.RuntimeFiber<unknown, unknown>

/**
 * One connection, in plain code: no fiber, scope or timer per connection (an idle connection
 * costs little more than its Node socket), and replies of one tick leave in one write.
 */
class ConnectionState {
  readonly queue: Array<Slot> = []
  head = 0
  inFlight = 0
  paused = false
  /** Queued in the server's flush list for this tick, with the frames to write. */
  dirty = false
  first: Buffer | undefined = undefined
  rest: Array<Buffer> | undefined = undefined
  closed = false
  lastActivity: number
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

const errorMessage = (
  cause: Cause.Cause<unknown>
): { error: Command.ErrorBody["error"]; message: string; tag?: string } => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const e = failure.value
    const tag =
      typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : undefined
    const message =
      e instanceof Error ? e.message : typeof e === "string" ? e : (JSON.stringify(e) ?? String(e))
    return tag === undefined ? { error: "HandlerFailed", message } : { error: "HandlerFailed", message, tag }
  }
  return { error: "Defect", message: Cause.pretty(cause).split("\n")[0] ?? "defect" }
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
    const maxInFlight = options.maxInFlight ?? 32
    const idleMillis = options.idleTimeout === undefined ? undefined : Duration.toMillis(options.idleTimeout)
    const host = options.host ?? "0.0.0.0"
    const noDelay = options.noDelay ?? true
    const node = options.node ?? "net"
    const clock = yield* Effect.clock
    const states = new Map<number, ConnectionState>()
    let nextId = 0

    const runtime = yield* Effect.runtime<never>()
    const runPlain = Runtime.runFork(runtime)
    const debugEnabled = LogLevel.greaterThanEqual(
      LogLevel.Debug,
      FiberRefs.getOrDefault(runtime.fiberRefs, FiberRef.currentMinimumLogLevel)
    )
    const annotate = (info: Connection) => Effect.annotateLogs({ node, conn: info.id })

    // -- writes: the frames a connection gets within a tick leave in one write, at the end of it
    let flushList: Array<ConnectionState> = []
    const flushOne = (state: ConnectionState) => {
      const { first, rest } = state
      state.dirty = false
      state.first = undefined
      state.rest = undefined
      if (first === undefined || state.socket.destroyed) return
      state.socket.write(rest === undefined ? first : Buffer.concat([first, ...rest]))
    }
    const flushAll = () => {
      const list = flushList
      flushList = []
      for (const state of list) if (state.dirty) flushOne(state)
    }
    const write = (state: ConnectionState, buf: Buffer) => {
      if (state.socket.destroyed) return
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

    // -- the listener
    const server = Net.createServer({ noDelay })
    server.maxConnections = 1_000_000
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
      connections: Effect.sync(() => Array.from(states.values(), (s) => s.info))
    }

    // -- handlers: a fiber only when the handler's Effect is not already an Exit
    const handlers = yield* FiberSet.make<unknown, unknown>()
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

    const errorFrame = (body: Command.ErrorBody): Buffer =>
      Frame.encode(frame, Command.ERROR_COMMAND, Buffer.from(JSON.stringify(body), "utf8"))

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
      if (state.paused && state.inFlight < maxInFlight && !state.socket.destroyed) {
        state.paused = false
        state.socket.resume()
      }
    }

    const complete = (state: ConnectionState, slot: Slot, out: Buffer | undefined) => {
      slot.done = true
      slot.out = out
      state.inFlight--
      flush(state)
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
        runPlain(Effect.logError(encoded.left.message).pipe(annotate(state.info)))
        return complete(state, slot, errorFrame({ command, error: "Defect", message: encoded.left.message }))
      }
      if (Cause.isInterruptedOnly(exit.cause)) return complete(state, slot, undefined)
      const { error, message, tag } = errorMessage(exit.cause)
      runPlain(
        (error === "Defect"
          ? Effect.logError(`${route.command.name} died`, exit.cause)
          : Effect.logWarning(`${route.command.name} failed: ${message}`)
        ).pipe(annotate(state.info))
      )
      const errorBody: Command.ErrorBody =
        tag === undefined ? { command, error, message } : { command, error, message, tag }
      complete(state, slot, errorFrame(errorBody))
    }

    const onFrame = (state: ConnectionState) => (command: number, body: Uint8Array) => {
      const slot: Slot = { done: false, out: undefined }
      state.queue.push(slot)
      state.inFlight++
      const route = router.routes.get(command)
      if (route === undefined) {
        runPlain(Effect.logWarning(`unknown command ${command}`).pipe(annotate(state.info)))
        return complete(
          state,
          slot,
          errorFrame({ command, error: "UnknownCommand", message: `no handler for command ${command}` })
        )
      }
      const request = route.command.decodeRequest(body)
      if (Either.isLeft(request)) {
        runPlain(Effect.logWarning(request.left.message).pipe(annotate(state.info)))
        return complete(
          state,
          slot,
          errorFrame({ command, error: "BadRequest", message: request.left.message })
        )
      }
      let effect: Effect.Effect<unknown, unknown, unknown>
      try {
        effect = route.handler(request.right, state.info)
      } catch (defect) {
        return settle(state, slot, route, command, Exit.die(defect))
      }
      if (debugEnabled) effect = Effect.zipRight(Effect.logDebug(`call method ${route.command.name}`), effect)
      // Effect.succeed / fail / die / void are already Exits: answer them without a fiber
      if (Exit.isExit(effect)) return settle(state, slot, route, command, effect)
      const fiber = forkOf(state, route)(effect as Effect.Effect<unknown, unknown>)
      FiberSet.unsafeAdd(handlers, fiber)
      fiber.addObserver((exit) => settle(state, slot, route, command, exit))
      if (state.inFlight >= maxInFlight && !state.paused) {
        state.paused = true
        state.socket.pause()
      }
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
      return Effect.zipRight(
        Effect.log(`Client ${state.info.id} login out.`),
        router.onDisconnect.length === 0 ? Effect.void : runHooks(router.onDisconnect, state.info)
      ).pipe(annotate(state.info))
    }

    server.on("connection", (socket: Net.Socket) => {
      const info: Connection = {
        id: nextId++,
        remoteAddress: normalizeAddress(socket.remoteAddress),
        remotePort: socket.remotePort ?? 0
      }
      const state = new ConnectionState(
        info,
        socket,
        new Frame.Decoder(frame),
        clock.unsafeCurrentTimeMillis()
      )
      states.set(info.id, state)
      const handleFrame = onFrame(state)
      socket.on("data", (chunk: Buffer) => {
        state.lastActivity = clock.unsafeCurrentTimeMillis()
        const violation = state.decoder.push(chunk, handleFrame)
        if (violation !== undefined) {
          runPlain(
            Effect.logWarning(`closing connection: ${violation.reason}: ${violation.detail}`).pipe(
              annotate(info)
            )
          )
          socket.destroy()
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
      socket.pause()
      runPlain(Effect.zipRight(login, runHooks(router.onConnect, info)).pipe(annotate(info))).addObserver(
        () => {
          if (!socket.destroyed && !state.paused) socket.resume()
        }
      )
    })

    if (idleMillis !== undefined) {
      const sweep = Effect.sync(() => {
        const now = clock.unsafeCurrentTimeMillis()
        for (const state of states.values()) {
          if (!state.socket.destroyed && now - state.lastActivity >= idleMillis) {
            runPlain(Effect.log(`closing idle connection ${state.info.id}`).pipe(annotate(state.info)))
            state.socket.destroy()
          }
        }
      })
      yield* sweep.pipe(
        Effect.repeat(Schedule.spaced(Duration.millis(Math.max(10, Math.min(1000, idleMillis / 4))))),
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
  layer(options).pipe(Layer.provide(app), Layer.provide(NetRouter.layer)) as Layer.Layer<
    NetServer,
    E | NetServerError,
    Exclude<R, NetRouter>
  >
