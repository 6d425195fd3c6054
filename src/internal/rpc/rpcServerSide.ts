/**
 * The server side of node-to-node RPC: serve one group on the sessions of an
 * `Endpoint`. Fast rpcs (see `rpcWire.ts`) run their handler straight on a
 * runtime built once per rpc and session (no fiber at all when the handler
 * returns an `Exit`, e.g. `Effect.succeed`); the others go to one stock
 * `RpcServer` per group (clientId = link id). Either way a handler has the
 * calling node as `Caller` in context and the same headers.
 *
 * @internal
 */
import * as Rpc from "@effect/rpc/Rpc"
import type * as RpcGroup from "@effect/rpc/RpcGroup"
import type { FromClientEncoded, FromServerEncoded } from "@effect/rpc/RpcMessage"
import * as RpcServer from "@effect/rpc/RpcServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import * as Tracing from "../observe/tracing.js"
import { Caller } from "./caller.js"
import type { Endpoint, ServerChannel, Session } from "./rpcSession.js"
import * as Wire from "./rpcWire.js"

/**
 * `Caller` while the handlers are built: each call replaces it with the
 * calling node; read outside a call, it is a defect that says so.
 */
export const callerWhileBuilding = Layer.succeed(Caller, {
  get name(): string {
    throw new Error("hotaru: Caller is known inside a handler's call, not while building the handlers")
  }
})

/** A call served under a span (its node traces). */
interface Traced {
  readonly tracing: Tracing.Tracing
  readonly span: Tracer.Span
}

/** The served side of one fast rpc. */
interface FastHandler {
  readonly codec: Wire.Codec
  readonly handler: Rpc.Handler<string>["handler"]
  readonly context: Context.Context<never>
  /** The runtime of each session's calls: `context` plus the session's `Caller`. */
  readonly runtimes: WeakMap<Session, Runtime.Runtime<never>>
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
    const { key, label } = Wire.channelKey(group)
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
    // the master's calls (its admin: status and metrics every second) are not traced
    const tracing = peer === Wire.masterName ? undefined : endpoint.tracing
    const stock = yield* serveStock(endpoint, group, key, tracing)
    const fast = fastServer(endpoint, group, yield* Effect.runtime<never>(), tracing)
    const channel: ServerChannel = { key, label, peer, ...stock, call: fast.call }
    endpoint.servers.add(channel)
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const interrupt = fast.stop()
        endpoint.servers.delete(channel)
        for (const session of endpoint.sessions.values()) session.serverCache.delete(key)
        // handlers in flight end now; their callers see an interrupt (LinkLost)
        return interrupt
      })
    )
  })

/** The stock path: one `RpcServer`, its frames carried as [0, key, …] / [1, key, …]. */
const serveStock = <Rpcs extends Rpc.Any>(
  endpoint: Endpoint,
  group: RpcGroup.RpcGroup<Rpcs>,
  key: number,
  tracing: Tracing.Tracing | undefined
): Effect.Effect<
  Pick<ServerChannel, "deliver" | "disconnect">,
  never,
  Scope.Scope | Rpc.ToHandler<Rpcs> | Rpc.Middleware<Rpcs> | Rpc.Context<Rpcs>
> =>
  Effect.gen(function* () {
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
            session.link.unsafeSend([Wire.F_RESPONSE, key, response])
          } catch (defect) {
            // too large for the link, or the serializer threw: that request fails, the link stays
            if ("requestId" in response) {
              session.die(
                { _tag: "Stock", key, requestId: response.requestId },
                `hotaru: cannot send the reply: ${defect}`
              )
            }
          }
          return Effect.void
        },
        end: () => Effect.void,
        clientIds: Effect.sync(() => new Set(endpoint.sessions.keys())),
        initialMessage: Effect.succeedNone,
        supportsAck: false,
        supportsTransferables: false,
        // the span context of a request is checked by `Session.dispatch` first
        supportsSpanPropagation: true
      })
    })
    // a traced node: @effect/rpc's own server span ("hotaru.serve.<tag>"), under the request's
    // span context (checked by `Session.dispatch`)
    yield* RpcServer.make(group, {
      disableTracing: tracing === undefined,
      spanPrefix: "hotaru.serve",
      spanAttributes: { [Tracing.ATTR_NODE]: endpoint.name },
      concurrency: "unbounded"
    }).pipe(Effect.provideService(RpcServer.Protocol, protocol), Effect.interruptible, Effect.forkScoped)
    return {
      deliver: (clientId, message) => deliver(clientId, message),
      disconnect: (clientId) => void disconnects.unsafeOffer(clientId)
    }
  })

/** The fast path's side of one served group: `call` (frame 7), and `stop` when the group is no longer served. */
interface FastServer {
  readonly call: ServerChannel["call"]
  /** Refuse further calls; the Effect interrupts the handlers still running. */
  readonly stop: () => Effect.Effect<void>
}

/** Answer fast call `id` with `exit` (nothing when no reply is wanted or the link is gone). */
const reply = (session: Session, id: number, codec: Wire.Codec, exit: Exit.Exit<unknown, unknown>): void => {
  if (id === 0 || session.link.isClosed()) return
  try {
    session.link.unsafeSend(Wire.replyFrame(id, codec, exit))
  } catch (defect) {
    // a schema transformation or the serializer threw
    session.die({ _tag: "Fast", id }, `hotaru: cannot send the reply of "${codec.tag}": ${defect}`)
  }
}

/** The reply of call `id`, its span (if any) ended first. */
const done = (
  session: Session,
  id: number,
  codec: Wire.Codec,
  exit: Exit.Exit<unknown, unknown>,
  traced: Traced | undefined
): void => {
  if (traced !== undefined) Tracing.end(traced.tracing, traced.span, exit)
  reply(session, id, codec, exit)
}

/** Refuse call `id` with the defect `message` (its span, if any, ends with it). */
const refuse = (session: Session, id: number, message: string, traced: Traced | undefined): void => {
  if (traced !== undefined) Tracing.end(traced.tracing, traced.span, Exit.die(message))
  session.die({ _tag: "Fast", id }, message)
}

/** The fast path: handlers run straight on a runtime built once per rpc and session. */
const fastServer = <Rpcs extends Rpc.Any>(
  endpoint: Endpoint,
  group: RpcGroup.RpcGroup<Rpcs>,
  base: Runtime.Runtime<never>,
  tracing: Tracing.Tracing | undefined
): FastServer => {
  const fast = new Map<string, FastHandler>()
  for (const rpc of Wire.rpcsOf(group)) {
    const entry = Context.getOption(base.context, Context.GenericTag<Rpc.Handler<string>>(rpc.key))
    if (Option.isNone(entry) || !Wire.isFast(rpc)) continue
    fast.set(rpc._tag, {
      codec: endpoint.codecs.of(rpc),
      handler: entry.value.handler,
      context: Context.merge(base.context, entry.value.context),
      runtimes: new WeakMap()
    })
  }
  const runtimeOf = (served: FastHandler, session: Session): Runtime.Runtime<never> => {
    let runtime = served.runtimes.get(session)
    if (runtime === undefined) {
      runtime = Runtime.make({
        context: Context.merge(served.context, session.callerContext),
        fiberRefs: base.fiberRefs,
        runtimeFlags: base.runtimeFlags
      })
      served.runtimes.set(session, runtime)
    }
    return runtime
  }
  const running = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
  let closing = false

  const call = (
    session: Session,
    id: number,
    tag: unknown,
    payload: unknown,
    extra: unknown,
    trace: unknown
  ): void => {
    try {
      if (tracing === undefined) start(session, id, tag, payload, extra, undefined)
      else startTraced(tracing, session, id, tag, payload, extra, trace)
    } catch (defect) {
      session.die({ _tag: "Fast", id }, `hotaru: the call of "${String(tag)}" failed: ${defect}`)
    }
  }

  /** `start` under a server span: the child of the caller's span when the frame names a valid one. */
  const startTraced = (
    tracing: Tracing.Tracing,
    session: Session,
    id: number,
    tag: unknown,
    payload: unknown,
    extra: unknown,
    trace: unknown
  ): void => {
    const name = typeof tag === "string" ? tag : String(tag)
    const span = Tracing.start(tracing, `hotaru.serve ${name}`, "server", Tracing.fromWire(trace))
    span.attribute(Tracing.ATTR_RPC, name)
    span.attribute(Tracing.ATTR_PEER, session.peerName)
    start(session, id, tag, payload, extra, { tracing, span })
  }

  const start = (
    session: Session,
    id: number,
    tag: unknown,
    payload: unknown,
    extra: unknown,
    traced: Traced | undefined
  ): void => {
    const served = typeof tag === "string" ? fast.get(tag) : undefined
    if (served === undefined || closing) {
      refuse(session, id, Wire.notServed(endpoint.name, String(tag), session.peerName), traced)
      return
    }
    const { codec } = served
    const decoded = codec.decodePayload(payload)
    if (decoded._tag === "Left") {
      const issue = ParseResult.TreeFormatter.formatIssueSync(decoded.left)
      refuse(session, id, `hotaru: bad payload for "${codec.tag}": ${issue}`, traced)
      return
    }
    const headers = Array.isArray(extra)
      ? Wire.trustedHeaders(Wire.flatPairs(extra), session.peerName)
      : session.callerHeaders
    let result: ReturnType<FastHandler["handler"]>
    try {
      result = served.handler(decoded.right, { clientId: session.link.id, headers })
    } catch (defect) {
      done(session, id, codec, Exit.die(defect), traced)
      return
    }
    const effect: Effect.Effect<unknown, unknown> | Stream.Stream<unknown, unknown> = Rpc.isWrapper(result)
      ? result.uninterruptible
        ? Effect.uninterruptible(result.value)
        : result.value
      : result
    if (!Effect.isEffect(effect)) {
      done(session, id, codec, Exit.die(`hotaru: the handler of "${codec.tag}" returned no Effect`), traced)
      return
    }
    // `Effect.succeed` / `Effect.fail` and friends: no fiber needed
    if (Exit.isExit(effect)) {
      done(session, id, codec, effect, traced)
      return
    }
    const run = traced === undefined ? effect : Tracing.within(traced.tracing, traced.span, effect)
    const fiber = Runtime.runFork(runtimeOf(served, session), run)
    const exit = fiber.unsafePoll()
    if (exit !== null) {
      done(session, id, codec, exit, traced)
      return
    }
    running.add(fiber)
    if (id !== 0) session.running.set(id, fiber)
    fiber.addObserver((exit) => {
      running.delete(fiber)
      if (id !== 0 && session.running.get(id) === fiber) session.running.delete(id)
      done(session, id, codec, exit, traced)
    })
  }

  return {
    call,
    stop: () => {
      closing = true
      return Fiber.interruptAll([...running])
    }
  }
}
