/**
 * A Node.js game client speaking firefly's frame, typed from the same `Command` definitions as
 * the server. For games, bots, load tools and tests.
 *
 * ```ts
 * const client = yield* Client.connect({ host: "127.0.0.1", port: 10001 })
 * const reply = yield* client.call(Echo, "msgdata") // typed by Echo's Schemas
 * ```
 *
 * A command that declares an `error` Schema fails `call` with that error, decoded from the error
 * frame's `value`, so `Effect.catchTag("RoomFull", …)` works; every other error frame is a
 * `CommandFailed`.
 *
 * Replies are matched the firefly way: the server answers one connection's requests in order,
 * so a frame is the reply of the oldest waiting call with the same command id (or an error frame
 * naming that command); any other frame is a push, delivered on `pushes`.
 *
 * @since 0.1.0
 */

import { Data, Deferred, Duration, Effect, Either, Option, Queue, Schedule, Scope, Stream } from "effect"
import { identity } from "effect/Function"
import * as Reconnect from "./internal/client/reconnect.js"
import * as TcpWire from "./internal/client/tcpWire.js"
import type { ClientWire, OpenWire } from "./internal/client/wire.js"
import * as WsWire from "./internal/client/wsWire.js"
import * as BodyGuard from "./internal/edge/bodyGuard.js"
import type { FrameOptions } from "./internal/edge/frame.js"
import * as Frame from "./internal/edge/frame.js"
import * as NetCommand from "./NetCommand.js"

/**
 * The connection failed, closed, timed out, or a body did not encode/decode (`Decode` also: an
 * error frame that does not decode, whose `value` does not match the command's error Schema).
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientError extends Data.TaggedError("ClientError")<{
  readonly reason: "Connect" | "Closed" | "Timeout" | "Encode" | "Decode"
  readonly detail: string
}> {
  override get message(): string {
    return `client: ${this.reason}: ${this.detail}`
  }
}

/**
 * The server answered an error frame (see `NetCommand.ErrorBody`) that carries no declared error:
 * an unknown command, a bad request, a defect, or a failure the command does not declare.
 *
 * @since 0.1.0
 * @category errors
 */
export class CommandFailed extends Data.TaggedError("CommandFailed")<{
  readonly command: number
  readonly error: NetCommand.ErrorBody["error"]
  readonly detail: string
  readonly tag: string | undefined
}> {
  override get message(): string {
    return `command ${this.command} failed: ${this.error}${this.tag ? ` (${this.tag})` : ""}: ${this.detail}`
  }
}

/**
 * A frame the server sent that answers no call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Push {
  readonly command: number
  readonly body: Uint8Array
}

export type { FrameOptions } from "./internal/edge/frame.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends ConnectionOptions {
  readonly host: string
  readonly port: number
}

/**
 * Options of a WebSocket client (`connectWebSocket`).
 *
 * @since 0.1.0
 * @category models
 */
export interface WebSocketOptions extends ConnectionOptions {
  /** `ws://host:port/` or `wss://host:port/`: a node's `wsport`. */
  readonly url: string
}

/**
 * What every client connection takes.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  readonly frame?: Partial<FrameOptions>
  /** Default timeout of `call` (default 30 s). */
  readonly timeout?: Duration.DurationInput
  /** Deepest nesting accepted in a JSON or msgpack reply or error frame (default 64). */
  readonly maxDepth?: number
}

/** An error frame, decoded, that answers a call. */
interface Failed {
  readonly body: NetCommand.ErrorBody
}

interface Pending {
  readonly command: number
  readonly resolve: (result: Either.Either<Uint8Array, Failed | ClientError>) => void
}

/**
 * A connected client.
 *
 * @since 0.1.0
 * @category models
 */
export interface Client {
  /** Send a request and wait for its reply; fails with the command's declared error, typed. */
  readonly call: <Name extends string, Req, Res, Err>(
    command: NetCommand.Command<Name, Req, Res, Err>,
    request: Req,
    options?: { readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<Res, Err | ClientError | CommandFailed>
  /** Send a request whose handler answers nothing. */
  readonly send: <Name extends string, Req, Res, Err>(
    command: NetCommand.Command<Name, Req, Res, Err>,
    request: Req
  ) => Effect.Effect<void, ClientError>
  /** Send raw bytes under any command id and wait for the frame that answers it. */
  readonly callRaw: (
    command: number,
    body: Uint8Array,
    options?: { readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<Uint8Array, ClientError | CommandFailed>
  /** Write raw bytes to the socket as they are (tests of bad frames). */
  readonly writeBytes: (bytes: Uint8Array) => Effect.Effect<void, ClientError>
  /** Frames that answered no call (server pushes). */
  readonly pushes: Stream.Stream<Push>
  /** Typed pushes of one command. Bodies that do not decode are dropped and logged. */
  readonly pushesOf: <Name extends string, Req, Res, Err>(
    command: NetCommand.Command<Name, Req, Res, Err>
  ) => Stream.Stream<Res>
  /** Completes when the server closed the connection (or it failed). */
  readonly closed: Effect.Effect<void>
  /** Close the connection. */
  readonly close: Effect.Effect<void>
}

/**
 * Connect over TCP; the connection closes with the scope.
 *
 * @since 0.1.0
 * @category utils
 */
export const connect = (options: Options): Effect.Effect<Client, ClientError, Scope.Scope> =>
  make(options, TcpWire.open(options.host, options.port))

/**
 * Connect over WebSocket (a node's `wsport`): the same client, the same frames in binary
 * messages. Uses the runtime's `WebSocket` (browsers, Node 22+, Bun, Deno), else the `ws` package.
 *
 * @since 0.1.0
 * @category utils
 */
export const connectWebSocket = (
  options: WebSocketOptions
): Effect.Effect<Client, ClientError, Scope.Scope> => make(options, WsWire.open(options.url))

/**
 * A change of a reconnecting client's connection (`Reconnecting.events`): `Connected` after a
 * connection opened and its `onConnect` succeeded (numbered from 1), `Disconnected` when it
 * closed, `GaveUp` when the schedule stopped retrying (with the last attempt's error).
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionEvent =
  | { readonly _tag: "Connected" | "Disconnected"; readonly connection: number }
  | { readonly _tag: "GaveUp"; readonly error: unknown }

/**
 * How a reconnecting client retries. `schedule` paces failed attempts (connect or `onConnect`
 * errors; default exponential from 100 ms, at most 5 s apart, jittered); after a drop the next
 * attempt waits `pause` × [0.5, 1.5) (default 250 ms). `onConnect` (log in) runs on every new
 * connection before a call may use it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReconnectOptions<E = never> {
  readonly schedule?: Schedule.Schedule<unknown, ClientError | E>
  readonly pause?: Duration.DurationInput
  readonly onConnect?: (client: Client) => Effect.Effect<void, E>
  /** How long a call waits for a connection before failing `Timeout` (default 10 s). */
  readonly connectTimeout?: Duration.DurationInput
}

/**
 * A client that reconnects. Calls go to the current connection (waiting while it is down); a call
 * in flight when it drops fails `Closed`, not re-sent. Pushes continue over every new connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reconnecting extends Pick<Client, "call" | "send" | "callRaw" | "pushes" | "pushesOf"> {
  /** The current connection (waits for one; fails `Closed` once the schedule gave up). */
  readonly current: Effect.Effect<Client, ClientError>
  /** Connected / Disconnected / GaveUp: the last 16 events, then each new one. */
  readonly events: Stream.Stream<ConnectionEvent>
}

/**
 * Keep a client connected: `connect` (`Client.connect(...)` or `Client.connectWebSocket(...)`)
 * is opened again whenever its connection closes, on `options`' schedule, until the scope closes.
 *
 * @since 0.1.0
 * @category utils
 */
export const reconnecting = <E = never>(
  connect: Effect.Effect<Client, ClientError, Scope.Scope>,
  options: ReconnectOptions<E> = {}
): Effect.Effect<Reconnecting, never, Scope.Scope> =>
  Effect.gen(function* () {
    const reconnector = yield* Reconnect.make({
      open: connect,
      onConnect: options.onConnect ?? (() => Effect.void),
      schedule: options.schedule ?? Reconnect.defaultSchedule,
      pause: Duration.decode(options.pause ?? "250 millis")
    })
    const wait = Duration.decode(options.connectTimeout ?? "10 seconds")
    const current = reconnector.current.pipe(
      Effect.timeoutFail({
        duration: wait,
        onTimeout: () =>
          new ClientError({ reason: "Timeout", detail: `not connected within ${Duration.format(wait)}` })
      }),
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.fail(new ClientError({ reason: "Closed", detail: "gave up reconnecting" })),
          onSome: Effect.succeed
        })
      )
    )
    const each = <A>(f: (client: Client) => Stream.Stream<A>) =>
      Stream.flatMap(reconnector.connections, f, { switch: true })
    return {
      current,
      events: reconnector.events,
      call: (command, request, opts) => Effect.flatMap(current, (c) => c.call(command, request, opts)),
      send: (command, request) => Effect.flatMap(current, (c) => c.send(command, request)),
      callRaw: (command, body, opts) => Effect.flatMap(current, (c) => c.callRaw(command, body, opts)),
      pushes: each((c) => c.pushes),
      pushesOf: (command) => each((c) => c.pushesOf(command))
    }
  })

const make = (
  options: ConnectionOptions,
  openWire: OpenWire
): Effect.Effect<Client, ClientError, Scope.Scope> =>
  Effect.gen(function* () {
    const frame = Frame.frameOptions(options.frame)
    const decodeOptions: NetCommand.DecodeOptions = {
      maxDepth: options.maxDepth ?? NetCommand.DEFAULT_MAX_DEPTH
    }
    const defaultTimeout = options.timeout ?? Duration.seconds(30)
    const pushes = yield* Queue.unbounded<Push>()
    const closed = yield* Deferred.make<void>()
    const pending: Array<Pending> = []
    let closedReason: string | undefined

    // the wire may report bytes before it is returned: everything it calls is declared first
    let wire: ClientWire | undefined
    let destroyed = false
    const destroy = () => {
      destroyed = true
      wire?.destroy()
    }
    const failAll = (reason: string, kind: "Closed" | "Decode" = "Closed") => {
      closedReason ??= reason
      const error = new ClientError({ reason: kind, detail: closedReason })
      for (const p of pending.splice(0)) p.resolve(Either.left(error))
      Deferred.unsafeDone(closed, Effect.void)
    }

    const decoder = new Frame.Decoder(frame)
    const onFrame = (command: number, body: Uint8Array): boolean => {
      const routed = routeFrame(
        pending,
        pushes,
        decodeOptions.maxDepth ?? NetCommand.DEFAULT_MAX_DEPTH,
        command,
        body
      )
      if (routed === undefined) return true
      // it answers some call, but which one is unknown: the connection cannot be trusted
      failAll(`bad error frame from server: ${routed}`, "Decode")
      destroy()
      return false
    }

    const socket = yield* Effect.mapError(
      openWire({
        onData: (chunk) => {
          const violation = decoder.push(chunk, onFrame)
          if (violation !== undefined) {
            failAll(`bad frame from server: ${violation.detail}`)
            destroy()
          }
        },
        onError: (message) => failAll(message),
        onClose: () => failAll("connection closed")
      }),
      (detail) => new ClientError({ reason: "Connect", detail })
    )

    wire = socket
    if (destroyed) socket.destroy()

    const write = (bytes: Uint8Array) =>
      Effect.suspend(() => {
        if (closedReason !== undefined || socket.isClosed()) {
          return Effect.fail(
            new ClientError({ reason: "Closed", detail: closedReason ?? "connection closed" })
          )
        }
        socket.write(bytes)
        return Effect.void
      })

    const request = (
      command: number,
      body: Uint8Array,
      opts?: { readonly timeout?: Duration.DurationInput }
    ) =>
      Effect.async<Uint8Array, ClientError | Failed>((resume) => {
        if (closedReason !== undefined || socket.isClosed()) {
          resume(
            Effect.fail(new ClientError({ reason: "Closed", detail: closedReason ?? "connection closed" }))
          )
          return
        }
        const entry: Pending = { command, resolve: (r) => resume(r) }
        pending.push(entry)
        socket.write(Frame.encode(frame, command, body))
        return Effect.sync(() => {
          const i = pending.indexOf(entry)
          if (i >= 0) pending.splice(i, 1)
        })
      }).pipe(
        Effect.timeoutFail({
          duration: opts?.timeout ?? defaultTimeout,
          onTimeout: () => new ClientError({ reason: "Timeout", detail: `no reply to command ${command}` })
        })
      )

    const encode = <Req>(
      command: {
        readonly id: number
        readonly encodeRequest: (r: Req) => Either.Either<Uint8Array, NetCommand.BodyError>
      },
      request: Req
    ) =>
      Either.mapLeft(
        command.encodeRequest(request),
        (e) => new ClientError({ reason: "Encode", detail: e.message })
      )

    const callRaw = (
      command: number,
      body: Uint8Array,
      opts?: { readonly timeout?: Duration.DurationInput }
    ): Effect.Effect<Uint8Array, ClientError | CommandFailed> =>
      Effect.catchIf(request(command, body, opts), isFailed, (f) => Effect.fail(commandFailed(f.body)))

    const client: Client = {
      call: (command, value, opts) =>
        Effect.flatMap(encode(command, value), (body) =>
          Effect.flatMap(
            Effect.catchIf(request(command.id, body, opts), isFailed, (f) =>
              Effect.fail(declaredError(command, f.body))
            ),
            (reply) =>
              Either.mapLeft(
                command.decodeResponse(reply, decodeOptions),
                (e) => new ClientError({ reason: "Decode", detail: e.message })
              )
          )
        ),
      send: (command, request) =>
        Effect.flatMap(encode(command, request), (body) => write(Frame.encode(frame, command.id, body))),
      callRaw,
      writeBytes: write,
      pushes: Stream.fromQueue(pushes),
      pushesOf: (command) =>
        Stream.fromQueue(pushes).pipe(
          Stream.filter((p) => p.command === command.id),
          Stream.mapEffect((p) =>
            Either.match(command.decodeResponse(p.body, decodeOptions), {
              onLeft: (e) => Effect.as(Effect.logWarning(`dropped push: ${e.message}`), Option.none()),
              onRight: (value) => Effect.succeed(Option.some(value))
            })
          ),
          Stream.filterMap(identity)
        ),
      closed: Deferred.await(closed),
      close: Effect.sync(() => socket.destroy())
    }
    return client
  })

/**
 * One frame from the server: the reply of the oldest pending call of its command (an error frame
 * names the command it answers), else a push. Returns the problem of an error frame that does not
 * decode (which call it answers is then unknown), `undefined` otherwise.
 */
const routeFrame = (
  pending: Array<Pending>,
  pushes: Queue.Queue<Push>,
  maxDepth: number,
  command: number,
  body: Uint8Array
): string | undefined => {
  if (command === NetCommand.ERROR_COMMAND) {
    const decoded = decodeError(body, maxDepth)
    if (Either.isLeft(decoded)) return decoded.left
    const index = pending.findIndex((p) => p.command === decoded.right.command)
    if (index >= 0) {
      const [p] = pending.splice(index, 1)
      p!.resolve(Either.left({ body: decoded.right }))
      return undefined
    }
  } else {
    const index = pending.findIndex((p) => p.command === command)
    if (index >= 0) {
      const [p] = pending.splice(index, 1)
      p!.resolve(Either.right(body))
      return undefined
    }
  }
  Queue.unsafeOffer(pushes, { command, body })
  return undefined
}

const isFailed = (e: ClientError | Failed): e is Failed => !(e instanceof ClientError)

const commandFailed = (e: NetCommand.ErrorBody) =>
  new CommandFailed({ command: e.command, error: e.error, detail: e.message, tag: e.tag })

/**
 * The failure of a call answered by error frame `e`: the command's declared error when the frame
 * carries one (`value`), `CommandFailed` otherwise, and `ClientError` (`Decode`) when `value` is
 * not one of the errors the command declares.
 */
const declaredError = <Err>(
  command: Pick<NetCommand.Command<string, unknown, unknown, Err>, "error" | "decodeError">,
  e: NetCommand.ErrorBody
): Err | ClientError | CommandFailed => {
  if (!("value" in e) || command.error === undefined) return commandFailed(e)
  return Either.match(command.decodeError(e.value), {
    onLeft: (error) => new ClientError({ reason: "Decode", detail: error.message }),
    onRight: (error) => error
  })
}

const utf8 = new TextDecoder("utf-8")

/** The longest text of a bad error frame quoted in a `ClientError`. */
const MAX_QUOTE = 200

/** Decode an error frame's body; never throws. Nesting is checked before `JSON.parse`. */
const decodeError = (body: Uint8Array, maxDepth: number): Either.Either<NetCommand.ErrorBody, string> => {
  try {
    if (BodyGuard.jsonTooDeep(body, maxDepth)) return Either.left(`JSON nested deeper than ${maxDepth}`)
    const json: unknown = JSON.parse(utf8.decode(body))
    return Either.mapLeft(NetCommand.decodeErrorBody(json), (e) => {
      const text = e.message
      return text.length > MAX_QUOTE ? `${text.slice(0, MAX_QUOTE)}…` : text
    })
  } catch (e) {
    const text = e instanceof Error ? e.message : "not JSON"
    return Either.left(text.length > MAX_QUOTE ? `${text.slice(0, MAX_QUOTE)}…` : text)
  }
}
