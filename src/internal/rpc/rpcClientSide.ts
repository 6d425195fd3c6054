/**
 * The client side of node-to-node RPC: the typed client of a group served by
 * a peer node. Built once (codecs from the endpoint's cache); each call takes
 * the peer's live session at call time. Fast rpcs (see `rpcWire.ts`) are a
 * pending callback resolved by the session's `dispatch`; the others go
 * through one stock `RpcClient` per group and session, built on first use.
 * Calls fail fast and never hang: `NodeUnavailable` when there is no session
 * and `NodeUnavailable("LinkLost")` when it drops mid-call.
 *
 * @internal
 */
import type * as Headers from "@effect/platform/Headers"
import type * as Rpc from "@effect/rpc/Rpc"
import * as RpcClient from "@effect/rpc/RpcClient"
import { RpcClientError } from "@effect/rpc/RpcClientError"
import type * as RpcGroup from "@effect/rpc/RpcGroup"
import type { FromClientEncoded } from "@effect/rpc/RpcMessage"
import * as RpcSchema from "@effect/rpc/RpcSchema"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberRefs from "effect/FiberRefs"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import * as Tracing from "../observe/tracing.js"
import * as DirectCall from "./directCall.js"
import type { ClientChannel, Endpoint, FlatClient, Session } from "./rpcSession.js"
import * as Wire from "./rpcWire.js"
import { NodeUnavailable } from "./wireErrors.js"

/** Options accepted by a call of a client. */
type CallOptions = Record<string, unknown> | undefined

const noCancel = (): void => {}

/**
 * Start one fast call of `codec`'s rpc on the group of channel `key`; `extra`
 * is a flat `[name, value, …]` header list or undefined. `onExit` gets the
 * call's `Exit` once (synchronously when it cannot be sent); the returned
 * function gives the call up (the peer is told, `onExit` is never called).
 */
const startFast = (
  session: Session,
  key: number,
  codec: Wire.Codec,
  payload: unknown,
  extra: Array<string> | undefined,
  discard: boolean,
  onExit: (exit: Exit.Exit<unknown, unknown>) => void,
  trace?: Tracing.WireContext
): (() => void) => {
  const encoded = codec.encodePayload(payload)
  if (encoded._tag === "Left") {
    onExit(Exit.die(ParseResult.parseError(encoded.left)))
    return noCancel
  }
  if (!session.live) {
    onExit(Exit.fail(session.lost()))
    return noCancel
  }
  const link = session.link
  const id = discard ? 0 : session.nextCallId()
  const frame =
    trace !== undefined
      ? [Wire.F_CALL, key, id, codec.tag, encoded.right, extra ?? null, trace]
      : extra === undefined
        ? [Wire.F_CALL, key, id, codec.tag, encoded.right]
        : [Wire.F_CALL, key, id, codec.tag, encoded.right, extra]
  if (discard) {
    try {
      link.unsafeSend(frame)
    } catch (defect) {
      // too large for the link, or the serializer threw
      onExit(Exit.die(defect))
      return noCancel
    }
    onExit(Exit.void)
    return noCancel
  }
  const pending = session.pending
  pending.set(id, { codec, resume: onExit })
  try {
    link.unsafeSend(frame)
  } catch (defect) {
    pending.delete(id)
    onExit(Exit.die(defect))
    return noCancel
  }
  return () => {
    if (pending.delete(id)) link.unsafeSend([Wire.F_CANCEL, id])
  }
}

/** One fast call as an Effect (on the fiber that runs it). */
const fastCall = (
  session: Session,
  key: number,
  codec: Wire.Codec,
  payload: unknown,
  extra: Array<string> | undefined,
  discard: boolean,
  trace?: Tracing.WireContext
): Effect.Effect<unknown, unknown> =>
  Effect.async<unknown, unknown>((resume) => {
    const cancel = startFast(session, key, codec, payload, extra, discard, resume, trace)
    return cancel === noCancel ? undefined : Effect.sync(cancel)
  })

/** The client span of a call of `tag` to `peer` by a tracing node, under `parent`. */
const callSpan = (
  tracing: Tracing.Tracing,
  tag: string,
  peer: string,
  parent: Tracer.AnySpan | undefined
): Tracer.Span => {
  const span = Tracing.start(tracing, `hotaru.call ${tag}`, "client", parent)
  span.attribute(Tracing.ATTR_RPC, tag)
  span.attribute(Tracing.ATTR_PEER, peer)
  return span
}

/**
 * A traced fast call from a fiber: its client span is the child of the fiber's span, ends with
 * the call, and its context goes in the frame.
 */
const tracedCall = (
  tracing: Tracing.Tracing,
  client: FastClient,
  codec: Wire.Codec,
  payload: unknown,
  extra: Array<string> | undefined,
  discard: boolean,
  parent: Tracer.AnySpan | undefined
): Effect.Effect<unknown, unknown> => {
  const span = callSpan(tracing, codec.tag, client.node, parent)
  const trace = Tracing.toWire(span)
  const session = client.current()
  const call =
    session !== undefined
      ? fastCall(session, client.key, codec, payload, extra, discard, trace)
      : Effect.flatMap(client.resolve, (session) =>
          fastCall(session, client.key, codec, payload, extra, discard, trace)
        )
  return Effect.onExit(call, (exit) => Effect.sync(() => Tracing.end(tracing, span, exit)))
}

/**
 * The Effect of one fast call. Run by a fiber it is `fastCall` on the session
 * live then (else `resolve`'s); started with `DirectCall.start` (a handler
 * that only forwards, see `directCall.ts`) it is the same call without a
 * fiber, its headers read from the given `FiberRefs`.
 */
class FastCallEffect extends Effectable.Class<unknown, unknown> implements DirectCall.DirectCall {
  declare readonly [DirectCall.TypeId]: typeof DirectCall.TypeId
  constructor(
    readonly client: FastClient,
    readonly codec: Wire.Codec,
    readonly payload: unknown,
    readonly options: CallOptions
  ) {
    super()
  }

  commit(): Effect.Effect<unknown, unknown> {
    return Effect.withFiberRuntime<unknown, unknown>((fiber) => {
      const { client, codec, options, payload } = this
      const extra = Wire.callHeaders(
        fiber.getFiberRef(RpcClient.currentHeaders),
        options?.headers as Headers.Input | undefined
      )
      const discard = options?.discard === true
      const tracing = client.tracing
      if (tracing !== undefined) {
        return tracedCall(tracing, client, codec, payload, extra, discard, fiber.currentSpan)
      }
      const session = client.current()
      if (session !== undefined) return fastCall(session, client.key, codec, payload, extra, discard)
      return Effect.flatMap(client.resolve, (session) =>
        fastCall(session, client.key, codec, payload, extra, discard)
      )
    })
  }

  start(
    fiberRefs: FiberRefs.FiberRefs,
    onExit: (exit: Exit.Exit<unknown, unknown>) => void,
    parent?: Tracer.AnySpan
  ): (() => void) | undefined {
    const { client, codec, options, payload } = this
    const session = client.current()
    // no live session: `resolve` may wait for one (callTimeout), which takes a fiber
    if (session === undefined) return undefined
    const extra = Wire.callHeaders(
      FiberRefs.getOrDefault(fiberRefs, RpcClient.currentHeaders),
      options?.headers as Headers.Input | undefined
    )
    const discard = options?.discard === true
    const tracing = client.tracing
    if (tracing === undefined) return startFast(session, client.key, codec, payload, extra, discard, onExit)
    const span = callSpan(tracing, codec.tag, client.node, parent)
    const cancel = startFast(
      session,
      client.key,
      codec,
      payload,
      extra,
      discard,
      (exit) => {
        Tracing.end(tracing, span, exit)
        onExit(exit)
      },
      Tracing.toWire(span)
    )
    return () => {
      cancel()
      Tracing.end(tracing, span, Exit.interrupt(FiberId.none))
    }
  }
}

Object.defineProperty(FastCallEffect.prototype, DirectCall.TypeId, { value: DirectCall.TypeId })

/** What the fast calls of one client share. */
interface FastClient {
  readonly key: number
  /** The peer node's name (the `hotaru.peer` of the call spans). */
  readonly node: string
  /** The calling node's tracing (undefined: no spans). */
  readonly tracing: Tracing.Tracing | undefined
  readonly resolve: Effect.Effect<Session, NodeUnavailable>
  readonly current: () => Session | undefined
}

/** The (cached) stock `RpcClient` of `group` (channel `key`) on `session`. */
const stockClient = <Rpcs extends Rpc.Any>(
  session: Session,
  key: number,
  group: RpcGroup.RpcGroup<Rpcs>
): Effect.Effect<FlatClient> => {
  const existing = session.clients.get(key)
  if (existing !== undefined) {
    return existing.value !== undefined ? Effect.succeed(existing.value) : Deferred.await(existing.ready)
  }
  const channel: ClientChannel = {
    write: undefined,
    ready: Deferred.unsafeMake<FlatClient>(FiberId.none),
    value: undefined
  }
  session.clients.set(key, channel)
  const link = session.link
  const lost = () =>
    new RpcClientError({ reason: "Protocol", message: `the link to "${session.peerName}" is closed` })
  const protocol = RpcClient.Protocol.make((writeResponse) => {
    channel.write = writeResponse
    return Effect.succeed({
      send: (request: FromClientEncoded) => {
        if (!session.live) return Effect.fail(lost())
        link.unsafeSend([Wire.F_REQUEST, key, request])
        return Effect.void
      },
      supportsAck: false,
      supportsTransferables: false
    })
  })
  // Middleware clients (`Rpc.MiddlewareClient`) are not supported on node
  // links: the requirement is discharged here, so a group whose middleware
  // needs one fails with a missing-service defect on first call.
  const make: Effect.Effect<FlatClient, never, RpcClient.Protocol | Scope.Scope> = Effect.map(
    // a traced node: @effect/rpc's own client span ("hotaru.call.<tag>"), its context in the request
    RpcClient.make(group, {
      disableTracing: session.endpoint.tracing === undefined || session.peerName === Wire.masterName,
      spanPrefix: "hotaru.call",
      spanAttributes: { [Tracing.ATTR_NODE]: session.endpoint.name, [Tracing.ATTR_PEER]: session.peerName },
      flatten: true
    }),
    // one function per rpc of the group calls this with its own tag, known
    // only at run time, so its payload and options types are too: erased here
    (client): FlatClient =>
      (tag, payload, options) =>
        client(tag, payload as never, options as never)
  )
  return protocol.pipe(
    Effect.flatMap((p) => Effect.provideService(make, RpcClient.Protocol, p)),
    Scope.extend(session.scope),
    Effect.tap((client) => {
      channel.value = client
      return Deferred.succeed(channel.ready, client)
    }),
    // never leave `ready` pending: later callers wait on it
    Effect.uninterruptible
  )
}

const isRpcClientError = (u: unknown): u is RpcClientError =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "RpcClientError"

/**
 * Build the user-facing client of `group` on node `node`: each call takes the
 * live session (`current`, else `resolve`, which fails with `NodeUnavailable`
 * when there is none) and maps a dropped link to `NodeUnavailable("LinkLost")`.
 * Codecs come from `endpoint` (compiled once per node).
 */
export const makeNodeClient = <Rpcs extends Rpc.Any>(
  endpoint: Endpoint,
  node: string,
  group: RpcGroup.RpcGroup<Rpcs>,
  resolve: Effect.Effect<Session, NodeUnavailable>,
  /** The live session now, if any (the fast way to what `resolve` gives). */
  current: () => Session | undefined
): RpcClient.RpcClient<Rpcs, NodeUnavailable> => {
  const { key } = Wire.channelKey(group)
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

  // calls to the master (the control plane) are not traced
  const tracing = node === Wire.masterName ? undefined : endpoint.tracing
  const fastClient: FastClient = { key, node, tracing, resolve, current }
  const fast = (codec: Wire.Codec) => (payload: unknown, options?: CallOptions) =>
    new FastCallEffect(fastClient, codec, payload, options)

  const stock = (tag: string, isStream: boolean) => (payload: unknown, options?: CallOptions) => {
    const client = Effect.flatMap(resolve, (session) => stockClient(session, key, group))
    if (!isStream) {
      return client.pipe(
        Effect.flatMap((client) => client(tag, payload, options) as Effect.Effect<unknown, unknown>),
        Effect.catchAllCause(mapCause)
      )
    }
    if (options?.asMailbox === true) {
      return Effect.flatMap(client, (client) => client(tag, payload, options) as Effect.Effect<unknown>)
    }
    return Stream.unwrap(
      Effect.map(client, (client) => client(tag, payload, options) as Stream.Stream<unknown>)
    ).pipe(Stream.catchAllCause((cause) => Stream.fromEffect(mapCause(cause))))
  }

  const client: Record<string, unknown> = {}
  for (const rpc of Wire.rpcsOf(group)) {
    const fn = Wire.isFast(rpc)
      ? fast(endpoint.codecs.of(rpc))
      : stock(rpc._tag, RpcSchema.isStreamSchema(rpc.successSchema))
    const dot = rpc._tag.indexOf(".")
    if (dot === -1) {
      client[rpc._tag] = fn
    } else {
      const prefix = rpc._tag.slice(0, dot)
      const target = (client[prefix] ?? {}) as Record<string, unknown>
      target[rpc._tag.slice(dot + 1)] = fn
      client[prefix] = target
    }
  }
  // built field by field from the group, as `RpcClient.make` builds its own
  return client as RpcClient.RpcClient<Rpcs, NodeUnavailable>
}
