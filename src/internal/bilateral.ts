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
 * | `[4, …]` `[5, …]` `[6, …]`      | hello, welcome, refused: see `handshake.ts`    |
 * | `[11, …]` `[12, …]`             | challenge, proof: see `handshake.ts`           |
 * | `[7, key, id, tag, payload, h?]`| fast call (`id` 0: no reply wanted; `h` = flat  |
 * |                                 | `[name, value, …]` extra headers)               |
 * | `[8, id, success]`              | fast reply: the encoded success value           |
 * | `[9, id, exit]`                 | fast reply: the encoded failed `Exit`           |
 * | `[10, id]`                      | the caller of fast call `id` gave up (interrupt)|
 *
 * Fast frames carry every rpc that is neither a stream nor has middleware:
 * the client side is a map of pending callbacks resolved by plain code, the
 * server side runs the handler straight on a pre-built runtime (no fiber at
 * all when the handler returns an `Exit`, e.g. `Effect.succeed`), both with
 * pre-compiled synchronous Schema codecs. Stream rpcs and rpcs with middleware
 * take frames 0/1: a stock `RpcServer` / `RpcClient` over the same link.
 *
 * `key` is a hash of the group's sorted rpc tags, so both ends agree from the
 * shared group definition alone.
 *
 * An `Endpoint` (one per Root / Remote) holds the served groups (each with its
 * fast handlers and one stock `RpcServer`, clientId = link id) and the live
 * sessions; a session keeps its fast calls in flight (`pending`), the peer's
 * fast calls whose handlers still run (`running`), and lazily builds one stock
 * `RpcClient` per group whose stream / middleware rpcs it calls.
 *
 * Frames are dispatched on the transport's own callback (`unsafeSetReceiver`),
 * not from a fiber; only the stock frames hand work to the session's fiber.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as Rpc from "@effect/rpc/Rpc"
import * as RpcClient from "@effect/rpc/RpcClient"
import { RpcClientError } from "@effect/rpc/RpcClientError"
import type * as RpcGroup from "@effect/rpc/RpcGroup"
import type { FromClientEncoded, FromServerEncoded } from "@effect/rpc/RpcMessage"
import * as RpcSchema from "@effect/rpc/RpcSchema"
import * as RpcServer from "@effect/rpc/RpcServer"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
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
export const F_CALL = 7
export const F_SUCCESS = 8
export const F_FAILURE = 9
export const F_CANCEL = 10

const PING: ReadonlyArray<number> = [F_PING]
const PONG: ReadonlyArray<number> = [F_PONG]

/**
 * The request header carrying the calling node's name. The receiving side
 * sets it from the authenticated session; a header of that name sent by the
 * peer is dropped.
 */
export const callerHeader = "hotaru-caller"

/** Whether a peer-sent header name must be dropped (the caller's, or one that would touch a prototype). */
const reservedHeader = (name: string): boolean => name === "__proto__" || name.toLowerCase() === callerHeader

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
// Fast path: compiled codecs
// ---------------------------------------------------------------------------

type AnySchema = Schema.Schema<unknown, unknown, never>
type Encoded = Either.Either<unknown, ParseResult.ParseIssue>

/** Whether `rpc` can take the fast frames (no stream, no middleware). */
const isFast = (rpc: Rpc.AnyWithProps): boolean =>
  !RpcSchema.isStreamSchema(rpc.successSchema) && rpc.middlewares.size === 0

/** Synchronous codecs of one rpc, compiled once per client / server. */
interface Codec {
  readonly tag: string
  readonly encodePayload: (u: unknown) => Encoded
  readonly decodePayload: (u: unknown) => Encoded
  readonly encodeSuccess: (u: unknown) => Encoded
  readonly decodeSuccess: (u: unknown) => Encoded
  readonly encodeExit: (u: unknown) => Encoded
  readonly decodeExit: (u: unknown) => Encoded
}

const compile = (rpc: Rpc.AnyWithProps): Codec => {
  const payload = rpc.payloadSchema as unknown as AnySchema
  const success = rpc.successSchema as unknown as AnySchema
  const exit = Rpc.exitSchema(rpc as unknown as Rpc.Any) as unknown as AnySchema
  return {
    tag: rpc._tag,
    encodePayload: ParseResult.encodeUnknownEither(payload),
    decodePayload: ParseResult.decodeUnknownEither(payload),
    encodeSuccess: ParseResult.encodeUnknownEither(success),
    decodeSuccess: ParseResult.decodeUnknownEither(success),
    encodeExit: ParseResult.encodeUnknownEither(exit),
    decodeExit: ParseResult.decodeUnknownEither(exit)
  }
}

/** An encoded `Exit.die(message)`: every `Rpc.exitSchema` decodes it. */
const encodedDie = (defect: string) => ({ _tag: "Failure", cause: { _tag: "Die", defect } })

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
  /** Handle one fast call (frame 7) from `session`. */
  readonly call: (session: Session, id: number, tag: unknown, payload: unknown, headers: unknown) => void
}

/** The served side of one fast rpc. */
interface FastHandler {
  readonly codec: Codec
  readonly handler: Rpc.Handler<string>["handler"]
  readonly runtime: Runtime.Runtime<never>
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
          if (session === undefined) return Effect.void
          try {
            session.link.unsafeSend([F_RESPONSE, key, response])
          } catch (defect) {
            // too large for the link, or the serializer threw: that request fails, the link stays
            if ("requestId" in response) {
              session.link.unsafeSend([
                F_RESPONSE,
                key,
                {
                  _tag: "Exit",
                  requestId: response.requestId,
                  exit: encodedDie(`hotaru: cannot send the reply: ${defect}`)
                }
              ])
            }
          }
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

    // the fast path: handlers run straight on a runtime built once per rpc
    const runtime = yield* Effect.runtime<never>()
    const fast = new Map<string, FastHandler>()
    for (const rpc of group.requests.values()) {
      const props = rpc as unknown as Rpc.AnyWithProps
      const entry = runtime.context.unsafeMap.get(props.key) as Rpc.Handler<string> | undefined
      if (entry === undefined || !isFast(props)) continue
      fast.set(props._tag, {
        codec: compile(props),
        handler: entry.handler,
        runtime: Runtime.make({
          context: Context.merge(runtime.context, entry.context),
          fiberRefs: runtime.fiberRefs,
          runtimeFlags: runtime.runtimeFlags
        })
      })
    }
    const running = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
    let closing = false

    /** The reply frame of call `id` that ended with `exit`. */
    const replyFrame = (
      id: number,
      codec: Codec,
      exit: Exit.Exit<unknown, unknown>
    ): ReadonlyArray<unknown> => {
      if (exit._tag === "Success") {
        const encoded = codec.encodeSuccess(exit.value)
        if (encoded._tag === "Right") return [F_SUCCESS, id, encoded.right]
        const issue = ParseResult.TreeFormatter.formatIssueSync(encoded.left)
        return [F_FAILURE, id, encodedDie(`hotaru: cannot encode the reply of "${codec.tag}": ${issue}`)]
      }
      const encoded = codec.encodeExit(exit)
      return [F_FAILURE, id, encoded._tag === "Right" ? encoded.right : encodedDie(Cause.pretty(exit.cause))]
    }

    const reply = (session: Session, id: number, codec: Codec, exit: Exit.Exit<unknown, unknown>): void => {
      if (id === 0 || session.link.isClosed()) return
      try {
        session.link.unsafeSend(replyFrame(id, codec, exit))
      } catch (defect) {
        // a schema transformation or the serializer threw
        session.link.unsafeSend([
          F_FAILURE,
          id,
          encodedDie(`hotaru: cannot send the reply of "${codec.tag}": ${defect}`)
        ])
      }
    }

    const call = (session: Session, id: number, tag: unknown, payload: unknown, extra: unknown): void => {
      try {
        start(session, id, tag, payload, extra)
      } catch (defect) {
        if (id !== 0)
          session.link.unsafeSend([
            F_FAILURE,
            id,
            encodedDie(`hotaru: the call of "${String(tag)}" failed: ${defect}`)
          ])
      }
    }

    const start = (session: Session, id: number, tag: unknown, payload: unknown, extra: unknown): void => {
      const served = fast.get(tag as string)
      if (served === undefined || closing) {
        if (id !== 0) {
          session.link.unsafeSend([
            F_FAILURE,
            id,
            encodedDie(
              `hotaru: node "${endpoint.name}" does not serve "${String(tag)}" to "${session.peerName}"`
            )
          ])
        }
        return
      }
      const { codec } = served
      const decoded = codec.decodePayload(payload)
      if (decoded._tag === "Left") {
        if (id !== 0) {
          session.link.unsafeSend([
            F_FAILURE,
            id,
            encodedDie(
              `hotaru: bad payload for "${codec.tag}": ${ParseResult.TreeFormatter.formatIssueSync(decoded.left)}`
            )
          ])
        }
        return
      }
      let headers = session.callerHeaders
      if (Array.isArray(extra)) {
        const record: Record<string, string> = {}
        for (let i = 0; i + 1 < extra.length; i += 2) {
          const name = String(extra[i])
          if (!reservedHeader(name)) record[name] = String(extra[i + 1])
        }
        // the caller is who authenticated on this link, whatever the peer claims
        record[callerHeader] = session.peerName
        headers = Headers.unsafeFromRecord(record)
      }
      let result: unknown
      try {
        result = served.handler(decoded.right, { clientId: session.link.id, headers })
      } catch (defect) {
        reply(session, id, codec, Exit.die(defect))
        return
      }
      let effect = result as Effect.Effect<unknown, unknown>
      if (typeof result === "object" && result !== null && Rpc.isWrapper(result)) {
        effect = result.uninterruptible ? Effect.uninterruptible(result.value) : result.value
      }
      // `Effect.succeed` / `Effect.fail` and friends: no fiber needed
      if (Exit.isExit(effect)) {
        reply(session, id, codec, effect)
        return
      }
      const fiber = Runtime.runFork(served.runtime, effect)
      const done = fiber.unsafePoll()
      if (done !== null) {
        reply(session, id, codec, done)
        return
      }
      running.add(fiber)
      if (id !== 0) session.running.set(id, fiber)
      fiber.addObserver((exit) => {
        running.delete(fiber)
        if (id !== 0 && session.running.get(id) === fiber) session.running.delete(id)
        reply(session, id, codec, exit)
      })
    }

    const channel: ServerChannel = {
      key,
      label,
      peer,
      deliver: (clientId, message) => deliver(clientId, message),
      disconnect: (clientId) => void disconnects.unsafeOffer(clientId),
      call
    }
    endpoint.servers.add(channel)
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closing = true
        endpoint.servers.delete(channel)
        for (const session of endpoint.sessions.values()) session.serverCache.delete(key)
        // handlers in flight end now; their callers see an interrupt (LinkLost)
        return Fiber.interruptAll([...running])
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

/** A fast call waiting for its reply. */
interface Pending {
  readonly codec: Codec
  readonly resume: (exit: Exit.Exit<unknown, unknown>) => void
}

/** One live link after registration, from one node's point of view. */
export class Session {
  open = true
  readonly clients = new Map<number, ClientChannel>()
  readonly serverCache = new Map<number, ServerChannel>()
  /** Fast calls of ours waiting for a reply, by id. */
  readonly pending = new Map<number, Pending>()
  /** Fast calls of the peer whose handlers still run here, by id. */
  readonly running = new Map<number, Fiber.RuntimeFiber<unknown, unknown>>()
  /** The headers a handler sees on a call from the peer that added none. */
  readonly callerHeaders: Headers.Headers
  private nextId = 1

  constructor(
    readonly endpoint: Endpoint,
    readonly link: Link,
    readonly peerName: string,
    readonly scope: Scope.Scope
  ) {
    this.callerHeaders = Headers.unsafeFromRecord({ [callerHeader]: peerName })
  }

  /** The `LinkLost` failure of calls on this session. */
  lost(): NodeUnavailable {
    return new NodeUnavailable({ node: this.peerName, reason: "LinkLost" })
  }

  /**
   * Make one fast call of `codec`'s rpc on the group of channel `key`; `extra`
   * is a flat `[name, value, …]` header list or undefined.
   */
  fastCall(
    key: number,
    codec: Codec,
    payload: unknown,
    extra: Array<string> | undefined,
    discard: boolean
  ): Effect.Effect<unknown, unknown> {
    const encoded = codec.encodePayload(payload)
    if (encoded._tag === "Left") return Effect.die(ParseResult.parseError(encoded.left))
    if (!this.live) return Effect.fail(this.lost())
    const link = this.link
    if (discard) {
      return Effect.sync(() =>
        link.unsafeSend(
          extra === undefined
            ? [F_CALL, key, 0, codec.tag, encoded.right]
            : [F_CALL, key, 0, codec.tag, encoded.right, extra]
        )
      )
    }
    return Effect.async<unknown, unknown>((resume) => {
      // checked again here: the fiber may have yielded since, and a session
      // torn down in between would never answer
      if (!this.live) return resume(Exit.fail(this.lost()))
      const id = this.nextId++
      if (this.nextId > 0x7fffffff) this.nextId = 1
      const pending = this.pending
      pending.set(id, { codec, resume })
      try {
        link.unsafeSend(
          extra === undefined
            ? [F_CALL, key, id, codec.tag, encoded.right]
            : [F_CALL, key, id, codec.tag, encoded.right, extra]
        )
      } catch (defect) {
        // the serializer threw
        pending.delete(id)
        resume(Exit.die(defect))
      }
      return Effect.sync(() => {
        if (pending.delete(id)) link.unsafeSend([F_CANCEL, id])
      })
    })
  }

  /** Fail every fast call in flight with `LinkLost`, interrupt the peer's handlers. */
  abandon(): void {
    const lost = Exit.fail(this.lost())
    const pending = [...this.pending.values()]
    this.pending.clear()
    for (const entry of pending) entry.resume(lost)
    const running = [...this.running.values()]
    this.running.clear()
    for (const fiber of running) fiber.unsafeInterruptAsFork(FiberId.none)
  }

  private server(key: number): ServerChannel | undefined {
    let server = this.serverCache.get(key)
    if (server === undefined) {
      server = this.endpoint.findServer(key, this.peerName)
      if (server !== undefined) this.serverCache.set(key, server)
    }
    return server
  }

  /** Route one fast frame (7–10). */
  private dispatchFast(frame: Array<unknown>): void {
    switch (frame[0]) {
      case F_CALL: {
        const id = typeof frame[2] === "number" ? frame[2] : 0
        const server = this.server(frame[1] as number)
        if (server !== undefined) {
          server.call(this, id, frame[3], frame[4], frame[5])
        } else if (id !== 0) {
          const tag = String(frame[3])
          this.link.unsafeSend([
            F_FAILURE,
            id,
            encodedDie(`hotaru: node "${this.endpoint.name}" does not serve "${tag}" to "${this.peerName}"`)
          ])
        }
        break
      }
      case F_SUCCESS:
      case F_FAILURE: {
        const id = frame[1] as number
        const entry = this.pending.get(id)
        if (entry === undefined) break
        this.pending.delete(id)
        let exit: Exit.Exit<unknown, unknown>
        try {
          exit = this.replyExit(entry.codec, frame[0] === F_SUCCESS, frame[2])
        } catch (defect) {
          // a schema transformation threw
          exit = Exit.die(defect)
        }
        entry.resume(exit)
        break
      }
      case F_CANCEL: {
        const id = frame[1] as number
        const fiber = this.running.get(id)
        if (fiber === undefined) break
        this.running.delete(id)
        fiber.unsafeInterruptAsFork(FiberId.none)
        break
      }
    }
  }

  /** The caller's `Exit` of a fast reply. */
  private replyExit(codec: Codec, success: boolean, value: unknown): Exit.Exit<unknown, unknown> {
    if (success) {
      const decoded = codec.decodeSuccess(value)
      return decoded._tag === "Right"
        ? Exit.succeed(decoded.right)
        : Exit.die(ParseResult.parseError(decoded.left))
    }
    const decoded = codec.decodeExit(value)
    if (decoded._tag === "Left") return Exit.die(ParseResult.parseError(decoded.left))
    const exit = decoded.right as Exit.Exit<unknown, unknown>
    // the remote handler was interrupted: that node shuts down mid-call
    return Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? Exit.fail(this.lost()) : exit
  }

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

  /** Route one received frame; returns the work left to do as an Effect, if any. */
  dispatch(frame: unknown): Effect.Effect<void> | undefined {
    if (!Array.isArray(frame)) return undefined
    if (frame[0] >= F_CALL) {
      this.dispatchFast(frame)
      return undefined
    }
    switch (frame[0]) {
      case F_REQUEST: {
        const key = frame[1] as number
        const message = frame[2] as FromClientEncoded
        if (typeof message !== "object" || message === null) return undefined
        const server = this.server(key)
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
          return undefined
        }
        if (message._tag === "Request") {
          // the caller is who authenticated on this link: a peer-sent caller
          // header is dropped, the session's goes last (the last one wins)
          const sent: ReadonlyArray<unknown> = Array.isArray(message.headers) ? message.headers : []
          const headers: Array<[string, string]> = []
          for (const entry of sent) {
            if (!Array.isArray(entry) || typeof entry[0] !== "string" || typeof entry[1] !== "string")
              continue
            if (!reservedHeader(entry[0])) headers.push([entry[0], entry[1]])
          }
          headers.push([callerHeader, this.peerName])
          return server.deliver(this.link.id, { ...message, headers })
        }
        return server.deliver(this.link.id, message)
      }
      case F_RESPONSE: {
        const channel = this.clients.get(frame[1] as number)
        const message = frame[2] as FromServerEncoded
        if (channel?.write === undefined || typeof message !== "object" || message === null) return undefined
        return channel.write(message)
      }
      case F_PING: {
        this.link.unsafeSend(PONG)
        return undefined
      }
      default:
        return undefined
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
      session.abandon()
      for (const channel of session.clients.values()) {
        if (channel.write !== undefined) yield* channel.write({ _tag: "ClientProtocolError", error })
      }
      for (const server of endpoint.servers) server.disconnect(link.id)
      yield* options.onClose(session)
      yield* Scope.close(scope, Exit.void)
    })

    // Frames are dispatched on the transport's callback; what is left to do
    // as an Effect (the stock RpcServer / RpcClient frames) runs in order on
    // one fiber, which ends once the link has closed and its work is done.
    const slow = yield* Mailbox.make<Effect.Effect<void>>()
    link.unsafeSetReceiver((message) => {
      lastSeen = clock.unsafeCurrentTimeMillis()
      try {
        const rest = session.dispatch(message)
        if (rest !== undefined) slow.unsafeOffer(rest)
      } catch {
        // a frame this node cannot make sense of: the peer is broken
        link.unsafeClose("BadFrame")
      }
    })
    const receive = Effect.gen(function* () {
      while (true) {
        const [effects, done] = yield* slow.takeAll
        for (const effect of effects) yield* effect
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
      yield* Effect.forkIn(
        Effect.zipRight(
          link.closed,
          Effect.sync(() => slow.unsafeDone(Exit.void))
        ),
        scope
      )
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
 * Build the user-facing client of `group` on node `node`: each call takes the
 * live session (`current`, else `resolve`, which fails with `NodeUnavailable`
 * when there is none) and maps a dropped link to `NodeUnavailable("LinkLost")`.
 */
export const makeNodeClient = <Rpcs extends Rpc.Any>(
  node: string,
  group: RpcGroup.RpcGroup<Rpcs>,
  resolve: Effect.Effect<Session, NodeUnavailable>,
  /** The live session now, if any (the fast way to what `resolve` gives). */
  current: () => Session | undefined
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

  const fastCall = (codec: Codec) => (payload: unknown, options?: CallOptions) =>
    Effect.withFiberRuntime<unknown, unknown>((fiber) => {
      let extra: Array<string> | undefined
      const inherited = fiber.getFiberRef(RpcClient.currentHeaders)
      const given = options?.headers as Headers.Input | undefined
      if (inherited !== Headers.empty || given !== undefined) {
        const merged = given === undefined ? inherited : Headers.merge(inherited, Headers.fromInput(given))
        extra = []
        for (const name of Object.keys(merged)) extra.push(name, merged[name]!)
        if (extra.length === 0) extra = undefined
      }
      const discard = options?.discard === true
      const session = current()
      if (session !== undefined) return session.fastCall(key, codec, payload, extra, discard)
      return Effect.flatMap(resolve, (session) => session.fastCall(key, codec, payload, extra, discard))
    })

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
    const fn = isFast(props)
      ? fastCall(compile(props))
      : call(props._tag, RpcSchema.isStreamSchema(props.successSchema))
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
