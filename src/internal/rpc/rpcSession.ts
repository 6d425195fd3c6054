/**
 * Bilateral RPC sessions: both nodes at the ends of one `Link` serve and call
 * typed `RpcGroup`s over it. The core of node-to-node RPC, in four modules:
 *
 * - `rpcWire.ts`: frames, channel keys, compiled codecs, the one failure
 *   encoding, the headers a handler sees;
 * - `rpcSession.ts` (this file): the `Endpoint` of a node role and the
 *   `Session` over one link, which routes every received frame;
 * - `rpcServerSide.ts`: serving a group (fast handlers + one stock `RpcServer`);
 * - `rpcClientSide.ts`: the typed client of a group on a peer node.
 *
 * A request net → gate → game1 (the demo's `gateHandle2`), each file entered
 * once per direction:
 *
 * 1. net, the handler's call: `rpcClientSide` (`fast`: encode with the
 *    compiled codec from `rpcWire`, park a pending callback, send
 *    `[7, key, id, tag, payload]`) → `tcpLink.ts` (frame, coalesced write).
 * 2. gate, the request: `tcpLink.ts` (read, decode) → `rpcSession`
 *    (`Session.dispatch`) → `rpcServerSide` (`call`: decode the payload, run
 *    the handler on the session's runtime, `Caller` = net). The handler calls
 *    game1: `rpcClientSide` → `tcpLink.ts`, as in 1.
 * 3. game1: `tcpLink.ts` → `rpcSession` → `rpcServerSide`, as in 2; the handler's
 *    `Exit` goes back as `[8, id, value]` (`rpcWire` `replyFrame`) → `tcpLink.ts`.
 * 4. gate, the reply: `tcpLink.ts` → `rpcSession` (`dispatch`: the pending call's
 *    `resume`, its `Exit` from `rpcWire` `replyExit`); gate's handler goes on
 *    and its own reply leaves by `rpcServerSide` `reply` → `tcpLink.ts`.
 * 5. net, the reply: `tcpLink.ts` → `rpcSession` → `resume`: the handler has its
 *    value (or its typed error, or `NodeUnavailable`). A netport handler that
 *    only forwards has no fiber to resume: its call was started by `NetServer`
 *    (`directCall.ts`) and `resume` answers the client right here.
 *
 * Stream rpcs and rpcs with middleware go the same way over frames 0/1,
 * through the stock `RpcClient` (`rpcClientSide` `stockClient`) and
 * `RpcServer` (`rpcServerSide` `serve`), whose frames the session hands to
 * its one fiber in order.
 *
 * An `Endpoint` (one per Root / Remote) holds the served groups and the live
 * sessions; a session keeps its fast calls in flight (`pending`), the peer's
 * fast calls whose handlers still run (`running`), and lazily builds one stock
 * `RpcClient` per group whose stream / middleware rpcs it calls (`clients`).
 * Frames are dispatched on the transport's own callback (`unsafeSetReceiver`),
 * not from a fiber; only the stock frames hand work to the session's fiber.
 *
 * @internal
 */
import type * as Headers from "@effect/platform/Headers"
import { RpcClientError } from "@effect/rpc/RpcClientError"
import type { FromClientEncoded, FromServerEncoded } from "@effect/rpc/RpcMessage"
import * as Context from "effect/Context"
import type * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Mailbox from "effect/Mailbox"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type { Link, TransportError } from "../link/link.js"
import * as Metrics from "../observe/metrics.js"
import { fromWire, type Tracing } from "../observe/tracing.js"
import { Caller } from "./caller.js"
import * as Wire from "./rpcWire.js"
import { NodeUnavailable } from "./wireErrors.js"

/** One served group, as the sessions see it (made by `rpcServerSide.serve`). */
export interface ServerChannel {
  readonly key: number
  readonly label: string
  /** Serve only sessions with this peer; undefined = every peer. */
  readonly peer: string | undefined
  /** Hand a stock frame (0) to the group's `RpcServer`. */
  readonly deliver: (clientId: number, message: FromClientEncoded) => Effect.Effect<void>
  readonly disconnect: (clientId: number) => void
  /** Handle one fast call (frame 7) from `session`; `trace` is the frame's span context slot. */
  readonly call: (
    session: Session,
    id: number,
    tag: unknown,
    payload: unknown,
    headers: unknown,
    trace: unknown
  ) => void
}

/** The RPC side of one node role (a Root, or a Remote): served groups, live sessions, compiled codecs. */
export class Endpoint {
  readonly servers = new Set<ServerChannel>()
  readonly sessions = new Map<number, Session>()
  readonly codecs = new Wire.Codecs()

  constructor(
    readonly name: string,
    /** The node's tracing (undefined: its calls and handlers make no span). */
    readonly tracing: Tracing | undefined = undefined
  ) {}

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

/** Where a Root or Remote service keeps its endpoint (not part of its public shape). */
const endpointKey = Symbol("hotaru/internal/Endpoint")

/** `service` (a Root or Remote service being built) carrying `endpoint`, hidden from its type. */
export const withEndpoint = <S extends object>(service: S, endpoint: Endpoint): S =>
  Object.defineProperty(service, endpointKey, { value: endpoint, enumerable: false })

/** The endpoint of a Root or Remote service built by `Root.make` / `Remote.make`. */
export const endpointOf = (service: object): Endpoint => {
  const endpoint: unknown = Reflect.get(service, endpointKey)
  if (endpoint instanceof Endpoint) return endpoint
  throw new TypeError("not a Root or Remote service built by Root.make / Remote.make (it has no endpoint)")
}

/** The untyped view of `RpcClient.Flat`. */
export type FlatClient = (tag: string, payload: unknown, options?: Record<string, unknown>) => unknown

/** The stock `RpcClient` of one group on a session (made by `rpcClientSide.stockClient`). */
export interface ClientChannel {
  write: ((message: FromServerEncoded) => Effect.Effect<void>) | undefined
  readonly ready: Deferred.Deferred<FlatClient>
  value: FlatClient | undefined
}

/** A fast call waiting for its reply. */
export interface Pending {
  readonly codec: Wire.Codec
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
  /** What a handler of the peer's calls has in context: `Caller`. */
  readonly callerContext: Context.Context<Caller>
  private nextId = 1

  constructor(
    readonly endpoint: Endpoint,
    readonly link: Link,
    readonly peerName: string,
    readonly scope: Scope.Scope
  ) {
    this.callerHeaders = Wire.trustedHeaders([], peerName)
    this.callerContext = Context.make(Caller, { name: peerName })
  }

  /** The `LinkLost` failure of calls on this session. */
  lost(): NodeUnavailable {
    return new NodeUnavailable({ node: this.peerName, reason: "LinkLost" })
  }

  /** Registered and the link not closed. */
  get live(): boolean {
    return this.open && !this.link.isClosed()
  }

  /** A fresh fast call id. */
  nextCallId(): number {
    const id = this.nextId++
    if (this.nextId > 0x7fffffff) this.nextId = 1
    return id
  }

  /** Answer `to` with a defect, unless nobody waits for it. */
  die(to: Wire.ReplyTo, message: string): void {
    if (to._tag === "Fast" && to.id === 0) return
    this.link.unsafeSend(Wire.dieFrame(to, message))
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
      case Wire.F_CALL: {
        const id = typeof frame[2] === "number" ? frame[2] : 0
        const server = typeof frame[1] === "number" ? this.server(frame[1]) : undefined
        if (server !== undefined) server.call(this, id, frame[3], frame[4], frame[5], frame[6])
        else
          this.die({ _tag: "Fast", id }, Wire.notServed(this.endpoint.name, String(frame[3]), this.peerName))
        break
      }
      case Wire.F_SUCCESS:
      case Wire.F_FAILURE: {
        const id = frame[1] as number
        const entry = this.pending.get(id)
        if (entry === undefined) break
        this.pending.delete(id)
        let exit: Exit.Exit<unknown, unknown>
        try {
          exit = Wire.replyExit(entry.codec, frame[0] === Wire.F_SUCCESS, frame[2], () => this.lost())
        } catch (defect) {
          // a schema transformation threw
          exit = Exit.die(defect)
        }
        entry.resume(exit)
        break
      }
      case Wire.F_CANCEL: {
        const id = frame[1] as number
        const fiber = this.running.get(id)
        if (fiber === undefined) break
        this.running.delete(id)
        fiber.unsafeInterruptAsFork(FiberId.none)
        break
      }
    }
  }

  /** Route one received frame; returns the work left to do as an Effect, if any. */
  dispatch(frame: unknown): Effect.Effect<void> | undefined {
    if (!Array.isArray(frame)) return undefined
    if (frame[0] >= Wire.F_CALL) {
      this.dispatchFast(frame)
      return undefined
    }
    switch (frame[0]) {
      case Wire.F_REQUEST: {
        const key = frame[1] as number
        const message = frame[2] as FromClientEncoded
        if (typeof message !== "object" || message === null) return undefined
        const server = this.server(key)
        if (server === undefined) {
          if (message._tag === "Request") {
            this.die(
              { _tag: "Stock", key, requestId: message.id },
              Wire.notServed(this.endpoint.name, message.tag, this.peerName)
            )
          }
          return undefined
        }
        if (message._tag === "Request") {
          // the caller is who authenticated on this link, whatever the peer claims
          const headers = Object.entries(Wire.trustedHeaders(Wire.listPairs(message.headers), this.peerName))
          // (a node that does not trace ignores the span context: its RpcServer makes no span)
          if (this.endpoint.tracing === undefined)
            return server.deliver(this.link.id, { ...message, headers })
          // a span context that is not a valid one is dropped (the served span starts a trace)
          const parent = fromWire([message.traceId, message.spanId, message.sampled])
          const trace =
            parent === undefined
              ? { traceId: undefined, spanId: undefined, sampled: undefined }
              : { traceId: parent.traceId, spanId: parent.spanId, sampled: parent.sampled }
          return server.deliver(this.link.id, { ...message, headers, ...trace })
        }
        return server.deliver(this.link.id, message)
      }
      case Wire.F_RESPONSE: {
        const channel = this.clients.get(frame[1] as number)
        const message = frame[2] as FromServerEncoded
        if (channel?.write === undefined || typeof message !== "object" || message === null) return undefined
        return channel.write(message)
      }
      case Wire.F_PING: {
        this.link.unsafeSend(Wire.PONG)
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
  readonly heartbeat: Wire.Heartbeat
  /** What the peer is to this node (the `side` label of the link metrics). */
  readonly side: "parent" | "child"
  readonly onReady: (session: Session) => Effect.Effect<void>
  readonly onClose: (session: Session) => Effect.Effect<void>
}): Effect.Effect<TransportError> =>
  Effect.gen(function* () {
    const { endpoint, heartbeat, link, peerName } = options
    const linkLabels = (metric: Metric.Metric.Counter<number>) =>
      metric.pipe(
        Metric.tagged("node", endpoint.name),
        Metric.tagged("peer", peerName),
        Metric.tagged("side", options.side)
      )
    const up = Metrics.linkUp.pipe(
      Metric.tagged("node", endpoint.name),
      Metric.tagged("peer", peerName),
      Metric.tagged("side", options.side)
    )
    let ready = false
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
      if (ready) {
        linkLabels(Metrics.linkDisconnects).pipe(Metric.tagged("reason", reason.reason)).unsafeUpdate(1, [])
        up.unsafeUpdate(0, [])
      }
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
    // The stock RpcServer runs a handler with this fiber's context on top of
    // the handler's own: that is how its handlers see `Caller`.
    const receive = Effect.gen(function* () {
      while (true) {
        const [effects, done] = yield* slow.takeAll
        for (const effect of effects) yield* effect
        if (done) return
      }
    }).pipe(Effect.provide(session.callerContext))

    const timeoutMillis = Duration.toMillis(heartbeat.timeout)
    const watchdog: Effect.Effect<void> = Effect.suspend(() => {
      const idle = clock.unsafeCurrentTimeMillis() - lastSeen
      if (idle >= timeoutMillis) return Effect.sync(() => link.unsafeClose("HeartbeatTimeout"))
      return Effect.zipRight(Effect.sleep(timeoutMillis - idle), watchdog)
    })
    const pinger = Effect.sync(() => link.unsafeSend(Wire.PING)).pipe(
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
      ready = true
      linkLabels(Metrics.linkConnects).unsafeUpdate(1, [])
      up.unsafeUpdate(1, [])
      yield* Fiber.await(receiver)
      return yield* link.closed
    }).pipe(Effect.ensuring(teardown))
  })
