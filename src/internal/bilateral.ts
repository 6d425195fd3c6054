/**
 * Bilateral RPC sessions: both nodes at the ends of one `Link` serve and call
 * typed `RpcGroup`s over it.
 *
 * Frames (plain arrays, so msgpack stays small):
 *
 * | frame                           | meaning                                        |
 * |---------------------------------|------------------------------------------------|
 * | `[0, key, FromClientEncoded]`   | a request (etc.) for the receiver's server     |
 * | `[1, key, FromServerEncoded]`   | a response for the receiver's client           |
 * | `[2]` / `[3]`                   | ping / pong                                    |
 * | `[4, name, parent]`             | hello (child → parent)                         |
 * | `[5, name]`                     | welcome (parent → child)                       |
 * | `[6, reason, parent]`           | refused (parent → child), then the link closes |
 *
 * `key` is a hash of the group's sorted rpc tags, so both ends agree from the
 * shared group definition alone.
 *
 * An `Endpoint` (one per Root / Remote) holds one `RpcServer` per served group
 * (clientId = link id) and the live sessions; each session lazily builds one
 * `RpcClient` per group it calls.
 *
 * @internal
 */
import * as Rpc from "@effect/rpc/Rpc"
import * as RpcClient from "@effect/rpc/RpcClient"
import { RpcClientError } from "@effect/rpc/RpcClientError"
import type * as RpcGroup from "@effect/rpc/RpcGroup"
import type { FromClientEncoded, FromServerEncoded } from "@effect/rpc/RpcMessage"
import * as RpcSchema from "@effect/rpc/RpcSchema"
import * as RpcServer from "@effect/rpc/RpcServer"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { NodeUnavailable } from "../NodeError.js"
import type { Link, TransportError } from "./link.js"

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

export const F_REQUEST = 0
export const F_RESPONSE = 1
export const F_PING = 2
export const F_PONG = 3
export const F_HELLO = 4
export const F_WELCOME = 5
export const F_REFUSED = 6

const PING: ReadonlyArray<number> = [F_PING]
const PONG: ReadonlyArray<number> = [F_PONG]

/** The request header carrying the calling node's name (set by the receiving side). */
export const callerHeader = "hotaru-caller"

/** Heartbeat settings. */
export interface Heartbeat {
  readonly interval: Duration.Duration
  readonly timeout: Duration.Duration
}

export const resolveHeartbeat = (options?: {
  readonly interval?: Duration.DurationInput | undefined
  readonly timeout?: Duration.DurationInput | undefined
}): Heartbeat => ({
  interval: Duration.decode(options?.interval ?? "2 seconds"),
  timeout: Duration.decode(options?.timeout ?? "6 seconds")
})

// ---------------------------------------------------------------------------
// Channel keys
// ---------------------------------------------------------------------------

interface GroupKey {
  readonly key: number
  readonly label: string
}

/** Deterministic key of a group: FNV-1a of its sorted rpc tags. Compute once per use site. */
export const channelKey = <Rpcs extends Rpc.Any>(group: RpcGroup.RpcGroup<Rpcs>): GroupKey => {
  const label = [...group.requests.keys()].sort().join(",")
  let hash = 0x811c9dc5
  for (let i = 0; i < label.length; i++) {
    hash ^= label.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return { key: hash, label }
}

// ---------------------------------------------------------------------------
// Endpoint and servers
// ---------------------------------------------------------------------------

interface ServerChannel {
  readonly key: number
  readonly label: string
  /** Serve only sessions with this peer; undefined = every peer. */
  readonly peer: string | undefined
  readonly deliver: (clientId: number, message: FromClientEncoded) => Effect.Effect<void>
  readonly disconnect: (clientId: number) => void
}

/** The RPC side of one node role (a Root, or a Remote): served groups and live sessions. */
export class Endpoint {
  readonly servers = new Set<ServerChannel>()
  readonly sessions = new Map<number, Session>()

  constructor(readonly name: string) {}

  findServer(key: number, peer: string): ServerChannel | undefined {
    let fallback: ServerChannel | undefined
    for (const server of this.servers) {
      if (server.key !== key) continue
      if (server.peer === peer) return server
      if (server.peer === undefined) fallback = server
    }
    return fallback
  }
}

/**
 * Serve `group` on every session of `endpoint` (only those whose peer is
 * `peer`, when given) until the scope closes.
 */
export const serve = <Rpcs extends Rpc.Any>(
  endpoint: Endpoint,
  group: RpcGroup.RpcGroup<Rpcs>,
  peer: string | undefined
): Effect.Effect<void, never, Scope.Scope | Rpc.ToHandler<Rpcs> | Rpc.Middleware<Rpcs> | Rpc.Context<Rpcs>> =>
  Effect.gen(function* () {
    const { key, label } = channelKey(group)
    for (const existing of endpoint.servers) {
      if (existing.key === key && existing.peer === peer) {
        return yield* Effect.dieMessage(
          `hotaru: node "${endpoint.name}" already serves the group [${label}]${peer ? ` to "${peer}"` : ""}`
        )
      }
      if (existing.key === key && existing.label !== label) {
        return yield* Effect.dieMessage(`hotaru: groups [${label}] and [${existing.label}] have the same key`)
      }
    }
    const disconnects = yield* Mailbox.make<number>()
    let deliver!: (clientId: number, message: FromClientEncoded) => Effect.Effect<void>
    const protocol = yield* RpcServer.Protocol.make((writeRequest) => {
      deliver = writeRequest
      return Effect.succeed({
        disconnects,
        send: (clientId: number, response: FromServerEncoded) => {
          const session = endpoint.sessions.get(clientId)
          if (session !== undefined) session.link.unsafeSend([F_RESPONSE, key, response])
          return Effect.void
        },
        end: () => Effect.void,
        clientIds: Effect.sync(() => new Set(endpoint.sessions.keys())),
        initialMessage: Effect.succeedNone,
        supportsAck: false,
        supportsTransferables: false,
        supportsSpanPropagation: false
      })
    })
    yield* RpcServer.make(group, { disableTracing: true, concurrency: "unbounded" }).pipe(
      Effect.provideService(RpcServer.Protocol, protocol),
      Effect.interruptible,
      Effect.forkScoped
    )
    const channel: ServerChannel = {
      key,
      label,
      peer,
      deliver: (clientId, message) => deliver(clientId, message),
      disconnect: (clientId) => void disconnects.unsafeOffer(clientId)
    }
    endpoint.servers.add(channel)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        endpoint.servers.delete(channel)
        for (const session of endpoint.sessions.values()) session.serverCache.delete(key)
      })
    )
  })

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

/** Options accepted by a call of the internal flat client. */
type CallOptions = Record<string, unknown> | undefined

/** The untyped view of `RpcClient.Flat`. */
type FlatClient = (tag: string, payload: unknown, options?: CallOptions) => unknown

interface ClientChannel {
  write: ((message: FromServerEncoded) => Effect.Effect<void>) | undefined
  readonly ready: Deferred.Deferred<FlatClient>
  value: FlatClient | undefined
}

/** One live link after registration, from one node's point of view. */
export class Session {
  open = true
  readonly clients = new Map<number, ClientChannel>()
  readonly serverCache = new Map<number, ServerChannel>()

  constructor(
    readonly endpoint: Endpoint,
    readonly link: Link,
    readonly peerName: string,
    readonly scope: Scope.Scope
  ) {}

  /** Registered and the link not closed. */
  get live(): boolean {
    return this.open && !this.link.isClosed()
  }

  /** The (cached) flat client of `group` (whose channel key is `key`) on this session. */
  client(key: number, group: RpcGroup.RpcGroup<Rpc.Any>): Effect.Effect<FlatClient> {
    const existing = this.clients.get(key)
    if (existing !== undefined) {
      return existing.value !== undefined ? Effect.succeed(existing.value) : Deferred.await(existing.ready)
    }
    const channel: ClientChannel = {
      write: undefined,
      ready: Deferred.unsafeMake<FlatClient>(FiberId.none),
      value: undefined
    }
    this.clients.set(key, channel)
    const link = this.link
    const lost = () =>
      new RpcClientError({ reason: "Protocol", message: `the link to "${this.peerName}" is closed` })
    const protocol = RpcClient.Protocol.make((writeResponse) => {
      channel.write = writeResponse
      return Effect.succeed({
        send: (request: FromClientEncoded) => {
          if (!this.live) return Effect.fail(lost())
          link.unsafeSend([F_REQUEST, key, request])
          return Effect.void
        },
        supportsAck: false,
        supportsTransferables: false
      })
    })
    const make = RpcClient.make(group, { disableTracing: true, flatten: true }) as unknown as Effect.Effect<
      FlatClient,
      never,
      RpcClient.Protocol | Scope.Scope
    >
    return protocol.pipe(
      Effect.flatMap((p) => Effect.provideService(make, RpcClient.Protocol, p)),
      Scope.extend(this.scope),
      Effect.tap((client) => {
        channel.value = client
        return Deferred.succeed(channel.ready, client)
      }),
      // never leave `ready` pending: later callers wait on it
      Effect.uninterruptible
    )
  }

  /** Route one received frame. */
  dispatch(frame: unknown): Effect.Effect<void> {
    if (!Array.isArray(frame)) return Effect.void
    switch (frame[0]) {
      case F_REQUEST: {
        const key = frame[1] as number
        const message = frame[2] as FromClientEncoded
        if (typeof message !== "object" || message === null) return Effect.void
        let server = this.serverCache.get(key)
        if (server === undefined) {
          server = this.endpoint.findServer(key, this.peerName)
          if (server !== undefined) this.serverCache.set(key, server)
        }
        if (server === undefined) {
          if (message._tag === "Request") {
            this.link.unsafeSend([
              F_RESPONSE,
              key,
              {
                _tag: "Exit",
                requestId: message.id,
                exit: {
                  _tag: "Failure",
                  cause: {
                    _tag: "Die",
                    defect: `hotaru: node "${this.endpoint.name}" does not serve "${message.tag}" to "${this.peerName}"`
                  }
                }
              }
            ])
          }
          return Effect.void
        }
        if (message._tag === "Request") {
          return server.deliver(this.link.id, {
            ...message,
            headers: [[callerHeader, this.peerName], ...message.headers]
          })
        }
        return server.deliver(this.link.id, message)
      }
      case F_RESPONSE: {
        const channel = this.clients.get(frame[1] as number)
        const message = frame[2] as FromServerEncoded
        if (channel?.write === undefined || typeof message !== "object" || message === null)
          return Effect.void
        return channel.write(message)
      }
      case F_PING: {
        this.link.unsafeSend(PONG)
        return Effect.void
      }
      default:
        return Effect.void
    }
  }
}

/**
 * Run a registered session over `link` until the link closes (or the fiber is
 * interrupted). `onReady` runs once the session can serve and call. On the
 * way out, in-flight calls fail with `RpcClientError` first, then the served
 * handlers of this peer are interrupted, then the session's clients close.
 * Returns why the link closed.
 */
export const runSession = (options: {
  readonly endpoint: Endpoint
  readonly link: Link
  readonly peerName: string
  readonly heartbeat: Heartbeat
  readonly onReady: (session: Session) => Effect.Effect<void>
  readonly onClose: (session: Session) => Effect.Effect<void>
}): Effect.Effect<TransportError> =>
  Effect.gen(function* () {
    const { endpoint, heartbeat, link, peerName } = options
    const scope = yield* Scope.make()
    const session = new Session(endpoint, link, peerName, scope)
    endpoint.sessions.set(link.id, session)
    const clock = yield* Effect.clock
    let lastSeen = clock.unsafeCurrentTimeMillis()

    const teardown = Effect.gen(function* () {
      if (!session.open) return
      session.open = false
      link.unsafeClose()
      endpoint.sessions.delete(link.id)
      const reason = yield* link.closed
      const error = new RpcClientError({
        reason: "Protocol",
        message: `the link to "${peerName}" was lost (${reason.reason})`
      })
      for (const channel of session.clients.values()) {
        if (channel.write !== undefined) yield* channel.write({ _tag: "ClientProtocolError", error })
      }
      for (const server of endpoint.servers) server.disconnect(link.id)
      yield* options.onClose(session)
      yield* Scope.close(scope, Exit.void)
    })

    const receive = Effect.gen(function* () {
      while (true) {
        const [messages, done] = yield* link.incoming.takeAll
        lastSeen = clock.unsafeCurrentTimeMillis()
        for (const message of messages) yield* session.dispatch(message)
        if (done) return
      }
    })

    const timeoutMillis = Duration.toMillis(heartbeat.timeout)
    const watchdog: Effect.Effect<void> = Effect.suspend(() => {
      const idle = clock.unsafeCurrentTimeMillis() - lastSeen
      if (idle >= timeoutMillis) return Effect.sync(() => link.unsafeClose("HeartbeatTimeout"))
      return Effect.zipRight(Effect.sleep(timeoutMillis - idle), watchdog)
    })
    const pinger = Effect.sync(() => link.unsafeSend(PING)).pipe(
      Effect.repeat(Schedule.spaced(heartbeat.interval))
    )

    return yield* Effect.gen(function* () {
      const receiver = yield* Effect.forkIn(receive, scope)
      yield* Effect.forkIn(watchdog, scope)
      yield* Effect.forkIn(pinger, scope)
      yield* options.onReady(session)
      yield* Fiber.await(receiver)
      return yield* link.closed
    }).pipe(Effect.ensuring(teardown))
  })

// ---------------------------------------------------------------------------
// Node clients: typed, fail fast, never hang
// ---------------------------------------------------------------------------

const isRpcClientError = (u: unknown): u is RpcClientError =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "RpcClientError"

/**
 * Build the user-facing client of `group` on node `node`: each call resolves
 * the current session (failing with `NodeUnavailable` when there is none) and
 * maps a dropped link to `NodeUnavailable("LinkLost")`.
 */
export const makeNodeClient = <Rpcs extends Rpc.Any>(
  node: string,
  group: RpcGroup.RpcGroup<Rpcs>,
  resolve: Effect.Effect<Session, NodeUnavailable>
): RpcClient.RpcClient<Rpcs, NodeUnavailable> => {
  const anyGroup = group as unknown as RpcGroup.RpcGroup<Rpc.Any>
  const { key } = channelKey(group)
  const lostError = () => new NodeUnavailable({ node, reason: "LinkLost" })
  const mapCause = <E>(cause: Cause.Cause<E>): Effect.Effect<never, E | NodeUnavailable> => {
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure) && isRpcClientError(failure.value)) return Effect.fail(lostError())
    // An interruption reaching this handler did not come from the caller (an
    // interrupted caller skips it): the remote handler was interrupted, which
    // happens when that node shuts down mid-call, or our session closed.
    if (Cause.isInterruptedOnly(cause)) return Effect.fail(lostError())
    return Effect.failCause(cause)
  }

  const call = (tag: string, isStream: boolean) => (payload: unknown, options?: CallOptions) => {
    if (!isStream) {
      return Effect.flatMap(resolve, (session) =>
        session.client(key, anyGroup).pipe(
          Effect.flatMap((client) => client(tag, payload, options) as Effect.Effect<unknown, unknown>),
          Effect.catchAllCause(mapCause)
        )
      )
    }
    if (options?.asMailbox === true) {
      return Effect.flatMap(resolve, (session) =>
        Effect.flatMap(
          session.client(key, anyGroup),
          (client) => client(tag, payload, options) as Effect.Effect<unknown>
        )
      )
    }
    return Stream.unwrap(
      Effect.map(resolve, (session) =>
        Stream.unwrap(
          Effect.map(
            session.client(key, anyGroup),
            (client) => client(tag, payload, options) as Stream.Stream<unknown>
          )
        ).pipe(Stream.catchAllCause((cause) => Stream.fromEffect(mapCause(cause))))
      )
    )
  }

  const client: Record<string, unknown> = {}
  for (const rpc of anyGroup.requests.values()) {
    const props = rpc as unknown as Rpc.AnyWithProps
    const fn = call(props._tag, RpcSchema.isStreamSchema(props.successSchema))
    const dot = props._tag.indexOf(".")
    if (dot === -1) {
      client[props._tag] = fn
    } else {
      const prefix = props._tag.slice(0, dot)
      const target = (client[prefix] ?? {}) as Record<string, unknown>
      target[props._tag.slice(dot + 1)] = fn
      client[prefix] = target
    }
  }
  return client as unknown as RpcClient.RpcClient<Rpcs, NodeUnavailable>
}
