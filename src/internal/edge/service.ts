/**
 * The client edge as handlers see it: a connection, the connection of the request being handled,
 * the edge's counters, and the running listener's service (`NetServer`). Re-exported by
 * `NetServer`; a WebSocket listener serves the same service.
 */
import { Context, Effect, type Option } from "effect"
import type * as NetCommand from "../../NetCommand.js"
import type { ChannelRefused } from "./channels.js"
import type { SessionHandover, SessionTake } from "./handoverWire.js"
import type { ResumeRefused } from "./resumeWire.js"
import type { SessionRefused } from "./sessions.js"

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
 * Where a listener is bound.
 *
 * @since 0.1.0
 * @category models
 */
export interface Address {
  readonly host: string
  readonly port: number
}

/**
 * The bound address of each transport a node's edge listens on.
 *
 * @since 0.1.0
 * @category models
 */
export interface Addresses {
  readonly tcp?: Address
  readonly webSocket?: Address
}

/**
 * What the edge counted since it started. The event counts are read from the
 * `hotaru_edge_events` Effect metric (the one place they are counted), less its values when this
 * server started; `connections`, `peakBuffered` and `parked` are the edge's state now.
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
  /** Request frames received (every command, answered or not): the message rate's counter. */
  readonly requests: number
  /** Requests answered `BadRequest` / `UnknownCommand`. */
  readonly badRequests: number
  readonly unknownCommands: number
  /** Requests whose handler failed / died. */
  readonly handlerFailures: number
  readonly handlerDefects: number
  /** Requests answered `Timeout`: their handler missed `requestTimeout` (and was interrupted). */
  readonly requestTimeouts: number
  /** Connections closed by an unexpected error in the edge itself. */
  readonly edgeDefects: number
  /** Largest number of bytes seen queued for one live connection. */
  readonly peakBuffered: number
  /** Sessions parked now, waiting for their client to resume them. */
  readonly parked: number
  /** Sessions parked since start (their connection dropped with resume on). */
  readonly sessionsParked: number
  /** Sessions resumed / resume attempts refused since start. */
  readonly resumes: number
  readonly resumesRefused: number
}

/**
 * The running client listener.
 *
 * @since 0.1.0
 * @category errors
 */
export class NetServer extends Context.Tag("hotaru/NetServer")<
  NetServer,
  {
    /** The bound address (port 0 resolved): the TCP listener's, or the WebSocket one's without it. */
    readonly address: Address
    /** The bound address of each listener. */
    readonly addresses: Addresses
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
    /** Bind a connection to a player id (see `Session.bind`). */
    readonly bind: (connection: number, uid: string) => Effect.Effect<void, SessionRefused>
    /** The player id a connection is bound to. */
    readonly uidOf: (connection: number) => Effect.Effect<Option.Option<string>>
    /** The connection a player id is bound to on this edge. */
    readonly connectionOf: (uid: string) => Effect.Effect<Option.Option<number>>
    /** A connection's session data (`Session.get` / `Session.set`). */
    readonly sessionData: (connection: number) => Effect.Effect<Map<string, unknown> | undefined>
    /** Put a connection in a channel (see `Channel.join`). */
    readonly join: (connection: number, channel: string) => Effect.Effect<void, ChannelRefused>
    /** Take a connection out of a channel; false if it was not in it. */
    readonly leave: (connection: number, channel: string) => Effect.Effect<boolean>
    /** The connections in a channel now. */
    readonly members: (channel: string) => Effect.Effect<ReadonlyArray<number>>
    /** Send `value` as `command` to every connection in a channel; returns how many got it. */
    readonly pushChannel: <Name extends string, Req, Res>(
      channel: string,
      command: NetCommand.Command<Name, Req, Res>,
      value: Res
    ) => Effect.Effect<number, NetCommand.BodyError>
    /** The connections open now. */
    readonly connections: Effect.Effect<ReadonlyArray<Connection>>
    /** Counters of the edge's limits and guards (for monitoring and tests). */
    readonly stats: Effect.Effect<Stats>
    /**
     * Hand the session a resume token of this node names over to the front its client reconnected
     * to (what the master asks for, see `Players`); the session ends here as moved.
     */
    readonly handOver: (request: SessionTake) => Effect.Effect<SessionHandover, ResumeRefused>
    /**
     * The start of a graceful stop with resume on (a node runs it before its master link goes):
     * stop accepting, park every bound session (closing its connection: its client reconnects,
     * to another front), then wait until no session is parked (each taken by another front) or
     * the resume `drain` time passed. At once when no session is bound or parked, or resume is
     * off. What is left ends when the edge's scope closes.
     */
    readonly drain: Effect.Effect<void>
  }
>() {}

/** Run `f` with the edge's service and the id of the connection being handled. */
export const withConnection = <A, E>(
  f: (server: Context.Tag.Service<NetServer>, connection: number) => Effect.Effect<A, E>
): Effect.Effect<A, E, NetServer | CurrentConnection> =>
  Effect.flatMap(NetServer, (server) =>
    Effect.flatMap(CurrentConnection, (connection) => f(server, connection.id))
  )
