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
 * @since 0.1.0
 */

import type * as Net from "node:net"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import {
  Cause,
  Context,
  Data,
  Duration,
  Effect,
  Either,
  Exit,
  FiberSet,
  Layer,
  Option,
  Runtime,
  Scope
} from "effect"
import * as Command from "./Command.js"
import * as Frame from "./internal/frame.js"

/** One client connection, as handlers and hooks see it. */
export interface Connection {
  readonly id: number
  readonly remoteAddress: string
  readonly remotePort: number
}

/** The connection of the request being handled (also passed to handlers as an argument). */
export class CurrentConnection extends Context.Tag("hotaru/NetServer/CurrentConnection")<
  CurrentConnection,
  Connection
>() {}

/** The listener could not start. */
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
  readonly run: (request: unknown, connection: Connection) => Effect.Effect<unknown, unknown, NetServer>
}

type Hook = (connection: Connection) => Effect.Effect<void, never, NetServer>

/** The routes and hooks of a node, filled by `handle` / `onConnect` / `onDisconnect` layers. */
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

/** Context a handler may use without declaring it: provided per request by the server. */
export type Provided = NetServer | CurrentConnection

/**
 * Register the handler of a command. The handler's other requirements are captured when the
 * layer is built. Registering the same command id twice is a defect at start-up.
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
        run: (request, connection) =>
          Effect.provideService(
            Effect.mapInputContext(
              handler(request as Req, connection) as Effect.Effect<
                unknown,
                E,
                Provided | Exclude<R, Provided>
              >,
              (ctx: Context.Context<Provided>) => Context.merge(context, ctx)
            ),
            CurrentConnection,
            connection
          ) as Effect.Effect<unknown, unknown, NetServer>
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

/** Run an Effect when a client connects (after it is registered: `push` reaches it). */
export const onConnect = hook("onConnect")
/** Run an Effect when a client's connection is gone. */
export const onDisconnect = hook("onDisconnect")

/** The running client listener. */
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

/** Options of the listener. */
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

class ConnectionState {
  readonly queue: Array<Slot> = []
  head = 0
  inFlight = 0
  paused = false
  corked = false
  lastActivity: number
  constructor(
    readonly info: Connection,
    readonly socket: Net.Socket,
    readonly decoder: Frame.Decoder,
    now: number
  ) {
    this.lastActivity = now
  }
  write(buf: Buffer): void {
    if (this.socket.destroyed) return
    if (!this.corked) {
      this.corked = true
      this.socket.cork()
      process.nextTick(() => {
        this.corked = false
        this.socket.uncork()
      })
    }
    this.socket.write(buf)
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

/** Start the listener; routes come from the `NetRouter` in context (filled before this is built). */
export const make = (
  options: Options
): Effect.Effect<Context.Tag.Service<NetServer>, NetServerError, NetRouter | Scope.Scope> =>
  Effect.gen(function* () {
    const router = yield* NetRouter
    const frame = Frame.frameOptions(options.frame)
    const maxInFlight = options.maxInFlight ?? 32
    const idleMillis = options.idleTimeout === undefined ? undefined : Duration.toMillis(options.idleTimeout)
    const host = options.host ?? "0.0.0.0"
    const node = options.node ?? "net"
    const clock = yield* Effect.clock
    const states = new Map<number, ConnectionState>()
    let nextId = 0

    const server = yield* NodeSocketServer.make({
      host,
      port: options.port,
      noDelay: options.noDelay ?? true
    }).pipe(
      Effect.mapError((cause) => new NetServerError({ reason: "Listen", host, port: options.port, cause }))
    )
    const bound =
      server.address._tag === "TcpAddress"
        ? { host: server.address.hostname, port: server.address.port }
        : { host, port: options.port }

    const deliver = (command: number, body: Uint8Array, to: Iterable<number>): number => {
      let buf: Buffer | undefined
      let n = 0
      for (const id of to) {
        const state = states.get(id)
        if (state === undefined || state.socket.destroyed) continue
        buf ??= Frame.encode(frame, command, body)
        state.write(buf)
        n++
      }
      return n
    }

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
          state.socket.end()
          state.socket.destroySoon()
          return true
        }),
      connections: Effect.sync(() => Array.from(states.values(), (s) => s.info))
    }

    const handlers = yield* FiberSet.make<unknown, unknown>()
    const runtime = yield* Effect.runtime<never>()
    const runHandler = yield* FiberSet.runtime(handlers)<NetServer>().pipe(
      Effect.provideService(NetServer, service)
    )
    const runPlain = Runtime.runFork(runtime)

    const errorFrame = (body: Command.ErrorBody): Buffer =>
      Frame.encode(frame, Command.ERROR_COMMAND, Buffer.from(JSON.stringify(body), "utf8"))

    const flush = (state: ConnectionState) => {
      const q = state.queue
      while (state.head < q.length && q[state.head]!.done) {
        const slot = q[state.head]!
        if (slot.out !== undefined) state.write(slot.out)
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
      const effect = Effect.zipRight(
        Effect.logDebug(`call method ${route.command.name}`),
        route.run(request.right, state.info)
      ).pipe(annotate(state.info))
      const fiber = runHandler(effect)
      fiber.addObserver((exit) => {
        if (Exit.isSuccess(exit)) {
          const value = exit.value
          if (value === undefined) return complete(state, slot, undefined)
          const encoded = route.command.encodeResponse(value as never)
          if (Either.isRight(encoded))
            return complete(state, slot, Frame.encode(frame, command, encoded.right))
          runPlain(Effect.logError(encoded.left.message).pipe(annotate(state.info)))
          return complete(
            state,
            slot,
            errorFrame({ command, error: "Defect", message: encoded.left.message })
          )
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
      })
      if (state.inFlight >= maxInFlight && !state.paused) {
        state.paused = true
        state.socket.pause()
      }
    }

    const annotate = (info: Connection) => Effect.annotateLogs({ node, conn: info.id })

    const runHooks = (hooks: ReadonlyArray<Hook>, info: Connection) =>
      Effect.forEach(hooks, (h) => h(info), { discard: true }).pipe(
        Effect.provideService(NetServer, service),
        Effect.catchAllCause((cause) => Effect.logError("connection hook failed", cause))
      )

    const serveConnection = (socket: Net.Socket) =>
      Effect.gen(function* () {
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
        yield* Effect.log(`Client ${info.id} login in.[${info.remoteAddress},${info.remotePort}]`).pipe(
          annotate(info)
        )
        yield* runHooks(router.onConnect, info).pipe(annotate(info))
        const handleFrame = onFrame(state)
        const closed = Effect.async<void>((resume) => {
          const onData = (chunk: Buffer) => {
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
          }
          const onClose = () => resume(Effect.void)
          socket.on("data", onData)
          socket.on("close", onClose)
          socket.on("error", () => {})
          if (socket.destroyed) resume(Effect.void)
          return Effect.sync(() => {
            socket.off("data", onData)
            socket.off("close", onClose)
            socket.destroy()
          })
        })
        const idle =
          idleMillis === undefined
            ? Effect.never
            : Effect.suspend(() => {
                const remaining = state.lastActivity + idleMillis - clock.unsafeCurrentTimeMillis()
                return remaining > 0 ? Effect.as(Effect.sleep(remaining), false) : Effect.succeed(true)
              }).pipe(
                Effect.repeat({ until: (expired) => expired }),
                Effect.zipRight(Effect.log(`closing idle connection ${info.id}`))
              )
        yield* Effect.raceFirst(closed, idle).pipe(
          Effect.ensuring(
            Effect.gen(function* () {
              socket.destroy()
              states.delete(info.id)
              yield* Effect.log(`Client ${info.id} login out.`)
              yield* runHooks(router.onDisconnect, info)
            }).pipe(annotate(info))
          )
        )
      })

    yield* server
      .run(() =>
        Effect.serviceOption(NodeSocket.NetSocket).pipe(
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.logError("netport: connection without a Node socket"),
              onSome: serveConnection
            })
          )
        )
      )
      .pipe(Effect.forkScoped)
    yield* Effect.log(`netport listening on ${bound.host}:${bound.port}`).pipe(Effect.annotateLogs({ node }))
    return service
  })

/** The listener as a Layer; it needs the `NetRouter` its handlers were registered in. */
export const layer = (options: Options): Layer.Layer<NetServer, NetServerError, NetRouter> =>
  Layer.scoped(NetServer, make(options))

/**
 * The listener with its app: builds a router, the app's handler layers into it, then listens.
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
