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
 * naming that command); any other frame is a push, delivered on `pushes`. The edge's system
 * frames (a resume token after a login, a resume's answer) are the client's own, not pushes.
 *
 * @since 0.1.0
 */

import { Duration, Effect, Option, type Schedule, type Scope, Stream } from "effect"
import * as Connection from "./internal/client/connection.js"
import { ClientError, type CommandFailed } from "./internal/client/errors.js"
import { CurrentLink, failPending, makeLink } from "./internal/client/link.js"
import * as Reconnect from "./internal/client/reconnect.js"
import * as TcpWire from "./internal/client/tcpWire.js"
import * as WsWire from "./internal/client/wsWire.js"
import type { FrameOptions } from "./internal/edge/frame.js"
import type * as NetCommand from "./NetCommand.js"

export { ClientError, CommandFailed } from "./internal/client/errors.js"

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
  Connection.make(options, TcpWire.open(options.host, options.port))

/**
 * Connect over WebSocket (a node's `wsport`): the same client, the same frames in binary
 * messages. Uses the runtime's `WebSocket` (browsers, Node 22+, Bun, Deno), else the `ws` package.
 *
 * @since 0.1.0
 * @category utils
 */
export const connectWebSocket = (
  options: WebSocketOptions
): Effect.Effect<Client, ClientError, Scope.Scope> => Connection.make(options, WsWire.open(options.url))

/**
 * A change of a reconnecting client's connection (`Reconnecting.events`): `Connected` after a
 * connection opened and its `onConnect` succeeded (numbered from 1), `Resumed` after a
 * connection got the session back without `onConnect`, `Disconnected` when it closed, `GaveUp`
 * when the schedule stopped retrying (with the last attempt's error).
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionEvent =
  | { readonly _tag: "Connected" | "Resumed" | "Disconnected"; readonly connection: number }
  | { readonly _tag: "GaveUp"; readonly error: unknown }

/**
 * How a reconnecting client retries. `schedule` paces failed attempts (connect or `onConnect`
 * errors; default exponential from 100 ms, at most 5 s apart, jittered); after a drop the next
 * attempt waits `pause` × [0.5, 1.5) (default 250 ms). On a new connection, a client whose
 * session has a resume token (the server has `resume` on) asks for the session back first;
 * `onConnect` (log in) runs when there is none or the server refused, before a call may use it.
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
 * A client that reconnects. Calls go to the current connection (waiting while it is down).
 * Pushes continue over every new connection. A call in flight when the connection drops waits
 * for the session's resume: answered once (re-sent if the server had not received it); without
 * a resume (none on the server, or refused) it fails `Closed`, not re-sent. `send` (no reply)
 * is at most once: one the server had not received at a drop is not sent again.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reconnecting extends Pick<Client, "call" | "send" | "callRaw" | "pushes" | "pushesOf"> {
  /** The current connection (waits for one; fails `Closed` once the schedule gave up). */
  readonly current: Effect.Effect<Client, ClientError>
  /** Connected / Resumed / Disconnected / GaveUp: the last 16 events, then each new one. */
  readonly events: Stream.Stream<ConnectionEvent>
}

const droppedConnecting = { reason: "Closed", detail: "connection closed while connecting" } as const

/**
 * Keep a client connected: `connect` (`Client.connect(...)` or `Client.connectWebSocket(...)`)
 * is opened again whenever its connection closes, on `options`' schedule, until the scope closes.
 * Given several (one per front node), each attempt takes the next one in turn: a session resumes
 * on another front too when the servers run under one master (see `Players`).
 *
 * @since 0.1.0
 * @category utils
 */
export const reconnecting = <E = never>(
  connect:
    | Effect.Effect<Client, ClientError, Scope.Scope>
    | ReadonlyArray<Effect.Effect<Client, ClientError, Scope.Scope>>,
  options: ReconnectOptions<E> = {}
): Effect.Effect<Reconnecting, never, Scope.Scope> =>
  Effect.gen(function* () {
    const connects = Effect.isEffect(connect) ? [connect] : connect
    let attempt = 0
    const next = Effect.suspend(() => {
      const open = connects[attempt % connects.length]
      attempt++
      return open ?? Effect.fail(new ClientError({ reason: "Closed", detail: "no address to connect to" }))
    })
    // every connection shares one link: the calls waiting, the pushes, the resume token
    const link = yield* makeLink(true)
    const login = options.onConnect ?? (() => Effect.void)
    const reconnector = yield* Reconnect.make({
      open: Effect.provideService(next, CurrentLink, link),
      onConnect: (client: Client) =>
        Effect.suspend(() => {
          const resume = link.resume
          const fresh = Effect.as(login(client), false)
          // a drop while logging in or resuming: on to the next connection (the calls of a login
          // whose session is bound already wait for its resume)
          const dropped = Effect.zipRight(client.closed, Effect.fail(new ClientError(droppedConnecting)))
          return Effect.raceFirst(
            resume === undefined
              ? fresh
              : Effect.flatMap(resume, (ok) => (ok ? Effect.succeed(true) : fresh)),
            dropped
          )
        }),
      onGiveUp: Effect.sync(() =>
        failPending(link, new ClientError({ reason: "Closed", detail: "gave up reconnecting" }))
      ),
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
    // the connections share one queue of pushes: the first one's streams read it for good
    const each = <A>(f: (client: Client) => Stream.Stream<A>) =>
      Stream.flatMap(Stream.take(reconnector.connections, 1), f)
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
