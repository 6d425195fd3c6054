/**
 * The child side of hotaru's node links (firefly's `remoteport` /
 * `callRemote`).
 *
 * A Remote dials each of its parents once, registers under its own name and
 * keeps every link up forever (exponential backoff with jitter, heartbeat).
 * Over that one link it calls the parent's groups through a client built
 * once (`Remote.client(name, group)`, `Remote.ParentClient`) and serves its
 * own groups to that parent (`Remote.serve`).
 *
 * @since 0.1.0
 */

import type * as Rpc from "@effect/rpc/Rpc"
import type * as RpcClient from "@effect/rpc/RpcClient"
import type * as RpcGroup from "@effect/rpc/RpcGroup"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { Caller } from "./Caller.js"
import { secretOf } from "./internal/config/secret.js"
import * as Handshake from "./internal/link/handshake.js"
import * as Tracing from "./internal/observe/tracing.js"
import { makeNodeClient } from "./internal/rpc/rpcClientSide.js"
import { callerWhileBuilding, serve as serveGroup } from "./internal/rpc/rpcServerSide.js"
import { Endpoint, endpointOf, runSession, type Session, withEndpoint } from "./internal/rpc/rpcSession.js"
import { resolveHeartbeat } from "./internal/rpc/rpcWire.js"
import * as Topology from "./internal/rpc/topology.js"
import { NodeUnavailable, type RegistrationRefused } from "./NodeError.js"
import type { HeartbeatOptions, NodeClientClass } from "./Root.js"
import { Transport, type TransportError } from "./Transport.js"

export {
  /**
   * The node that made the current call, in a handler's context
   * (`const { name } = yield* Remote.Caller`); the same tag as `Root.Caller`.
   *
   * @since 0.1.0
   * @category tags
   */
  Caller
}

/**
 * The state of the link to one parent.
 *
 * `Connecting` carries why the last attempt (or the last link) ended, if any.
 *
 * @since 0.1.0
 * @category models
 */
export type ParentStatus =
  | { readonly _tag: "Connected" }
  | {
      readonly _tag: "Connecting"
      readonly lastError: RegistrationRefused | TransportError | NodeUnavailable | undefined
    }

/**
 * One parent to connect to.
 *
 * @since 0.1.0
 * @category models
 */
export interface ParentOptions {
  readonly name: string
  readonly host: string
  readonly port: number
}

/**
 * Options of `Remote.layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RemoteOptions {
  /** This node's name, registered at every parent. */
  readonly name: string
  readonly parents: ReadonlyArray<ParentOptions>
  readonly heartbeat?: HeartbeatOptions | undefined
  /** Reconnect backoff: exponential from `base` (default 100 ms), capped at `max` (default 5 s), jittered. */
  readonly reconnect?:
    | {
        readonly base?: Duration.DurationInput | undefined
        readonly max?: Duration.DurationInput | undefined
      }
    | undefined
  /**
   * What a call does while the parent's link is down: 0 (default) fails at
   * once with `NodeUnavailable("NotConnected")`; otherwise wait up to this
   * long for the link, then fail with `NodeUnavailable("Timeout")`.
   */
  readonly callTimeout?: Duration.DurationInput | undefined
  /**
   * The cluster secret (HMAC challenge–response at the start of each link):
   * this node proves it holds it, and checks that every parent does
   * (`RegistrationRefused("Unauthenticated")` otherwise).
   */
  readonly secret?: string | Redacted.Redacted<string> | undefined
  /** How long a link's handshake may take (default 5 s). */
  readonly helloTimeout?: Duration.DurationInput | undefined
}

/**
 * The child role of a node.
 *
 * @since 0.1.0
 * @category tags
 */
export class Remote extends Context.Tag("hotaru/Remote")<
  Remote,
  {
    /** This node's name. */
    readonly name: string
    /**
     * A typed client of `group` served by parent `name` (`Root.serve` there).
     * Calls fail with `NodeUnavailable` while the link is down ("NotConnected",
     * or "Timeout" with `callTimeout`) or when it drops mid-call ("LinkLost").
     * Built once per parent and group (later calls return the same client);
     * prefer `Remote.client` / `Remote.ParentClient` in a layer.
     */
    readonly parent: <Rpcs extends Rpc.Any>(
      name: string,
      group: RpcGroup.RpcGroup<Rpcs>
    ) => Effect.Effect<RpcClient.RpcClient<Rpcs, NodeUnavailable>>
    /** The link state of parent `name` (dies for a name not in `parents`). */
    readonly status: (name: string) => Effect.Effect<ParentStatus>
    /** The current state of parent `name`, then every change. */
    readonly changes: (name: string) => Stream.Stream<ParentStatus>
    /** Waits until the link to parent `name` is registered. */
    readonly awaitConnected: (name: string) => Effect.Effect<void>
  }
>() {}

/**
 * Connect to every parent of `options.parents` and keep the links up until
 * the layer's scope closes. Never fails: a parent that is down, unknown or
 * refusing is retried with backoff (see `status`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: RemoteOptions): Layer.Layer<Remote, never, Transport> =>
  Layer.scoped(Remote, make(options))

/**
 * Serve `group` to parent `parentName` over its link (firefly's
 * `remoteserviceHandle`); the parent calls it with `Root.client(me, group)`.
 * A handler has the calling parent in context as `Remote.Caller`.
 *
 * @since 0.1.0
 * @category layers
 */
export const serve = <Rpcs extends Rpc.Any, E, R>(
  parentName: string,
  group: RpcGroup.RpcGroup<Rpcs>,
  handlers: Layer.Layer<Rpc.ToHandler<Rpcs>, E, R>
): Layer.Layer<never, E, Exclude<R, Caller> | Remote | Rpc.Middleware<Rpcs> | Rpc.Context<Rpcs>> =>
  Layer.scopedDiscard(
    Effect.flatMap(Remote, (remote) =>
      Effect.zipRight(Topology.check("parent", parentName), serveGroup(endpointOf(remote), group, parentName))
    )
  ).pipe(Layer.provide(handlers), Layer.provide(callerWhileBuilding))

/**
 * The typed client of `group` served by parent `name`, built once (its codecs
 * compiled once): yield it in a layer or a handler group's constructor, not
 * per request. Calls behave as `remote.parent`'s.
 *
 * @since 0.1.0
 * @category constructors
 */
export const client = <Rpcs extends Rpc.Any>(
  name: string,
  group: RpcGroup.RpcGroup<Rpcs>
): Effect.Effect<RpcClient.RpcClient<Rpcs, NodeUnavailable>, never, Remote> =>
  Effect.flatMap(Remote, (remote) => remote.parent(name, group))

/**
 * A tag class whose service is the client of `group` on parent `name`, with
 * its `layer` (built once, needs `Remote`):
 *
 * ```ts
 * class Gate extends Remote.ParentClient<Gate>()("app/Gate", "gate", GateService) {}
 * // in a handler: const gate = yield* Gate; ... Layer.provide(Gate.layer)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const ParentClient =
  <Self>() =>
  <const Id extends string, Rpcs extends Rpc.Any>(
    id: Id,
    name: string,
    group: RpcGroup.RpcGroup<Rpcs>
  ): NodeClientClass<Self, Id, Rpcs, Remote> => {
    const tag = Context.Tag(id)<Self, RpcClient.RpcClient<Rpcs, NodeUnavailable>>()
    return Object.assign(tag, { layer: Layer.effect(tag, client(name, group)) })
  }

interface ParentState {
  readonly options: ParentOptions
  readonly status: SubscriptionRef.SubscriptionRef<ParentStatus>
  session: Session | undefined
}

const make = (options: RemoteOptions) =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const heartbeat = resolveHeartbeat(options.heartbeat)
    const helloTimeout = options.helloTimeout ?? Handshake.defaultHelloTimeout
    const endpoint = new Endpoint(options.name, yield* Tracing.current)
    const checkName = yield* Topology.checker
    const base = Duration.decode(options.reconnect?.base ?? "100 millis")
    const max = Duration.decode(options.reconnect?.max ?? "5 seconds")
    const callTimeout = Duration.decode(options.callTimeout ?? Duration.zero)
    const backoff = Schedule.exponential(base).pipe(Schedule.jittered, Schedule.union(Schedule.spaced(max)))
    const parents = new Map<string, ParentState>()

    /** One attempt: dial, register, run the session until the link ends. */
    const connectOnce = (state: ParentState) =>
      Effect.scoped(
        Effect.gen(function* () {
          const { host, name, port } = state.options
          const link = yield* transport.dial({ host, port }).pipe(
            Effect.timeoutFail({
              duration: heartbeat.timeout,
              onTimeout: () => new NodeUnavailable({ node: name, reason: "Timeout" })
            })
          )
          yield* Handshake.dial(link, {
            name: options.name,
            parent: name,
            secret: secretOf(options.secret),
            timeout: helloTimeout,
            onTimeout: () => new NodeUnavailable({ node: name, reason: "Timeout" })
          })
          const closed = yield* runSession({
            endpoint,
            link,
            peerName: name,
            heartbeat,
            side: "parent",
            onReady: (session) =>
              Effect.suspend(() => {
                state.session = session
                return SubscriptionRef.set(state.status, { _tag: "Connected" })
              }),
            onClose: (session) =>
              Effect.sync(() => {
                if (state.session === session) state.session = undefined
              })
          })
          return closed
        })
      )

    /** Keep the link to one parent up forever. */
    const keepUp = (state: ParentState) =>
      Effect.gen(function* () {
        const driver = yield* Schedule.driver(backoff)
        while (true) {
          const result = yield* Effect.either(connectOnce(state))
          const wasConnected = result._tag === "Right"
          const lastError = wasConnected ? result.right : result.left
          yield* SubscriptionRef.set(state.status, { _tag: "Connecting", lastError })
          if (wasConnected) yield* driver.reset
          yield* driver.next(undefined).pipe(Effect.ignore)
        }
      })

    for (const parent of options.parents) {
      const state: ParentState = {
        options: parent,
        status: yield* SubscriptionRef.make<ParentStatus>({ _tag: "Connecting", lastError: undefined }),
        session: undefined
      }
      parents.set(parent.name, state)
    }
    for (const state of parents.values()) yield* Effect.forkScoped(keepUp(state))

    const stateOf = (name: string) =>
      Effect.suspend(() => {
        const state = parents.get(name)
        return state === undefined
          ? Effect.dieMessage(`hotaru: node "${options.name}" has no parent named "${name}"`)
          : Effect.succeed(state)
      })

    const current = (state: ParentState | undefined): Session | undefined =>
      state?.session?.live ? state.session : undefined

    const awaitConnected = (name: string) =>
      Effect.flatMap(stateOf(name), (state) =>
        state.status.changes.pipe(
          Stream.filter((status) => status._tag === "Connected" && current(state) !== undefined),
          Stream.take(1),
          Stream.runDrain
        )
      )

    /** Clients built so far, by group and parent name. */
    const clients = new WeakMap<object, Map<string, unknown>>()
    const parent = <Rpcs extends Rpc.Any>(
      name: string,
      group: RpcGroup.RpcGroup<Rpcs>
    ): Effect.Effect<RpcClient.RpcClient<Rpcs, NodeUnavailable>> =>
      Effect.sync(() => {
        let byName = clients.get(group)
        if (byName === undefined) {
          byName = new Map()
          clients.set(group, byName)
        }
        const built = byName.get(name)
        if (built !== undefined) return built as RpcClient.RpcClient<Rpcs, NodeUnavailable>
        const state = parents.get(name)
        const notConnected = Effect.suspend(() =>
          Effect.fail(new NodeUnavailable({ node: name, reason: "NotConnected" }))
        )
        const resolve: Effect.Effect<Session, NodeUnavailable> = Effect.suspend(() => {
          const session = current(state)
          if (session !== undefined) return Effect.succeed(session)
          if (state === undefined || Duration.toMillis(callTimeout) <= 0) return notConnected
          return awaitConnected(name).pipe(
            Effect.timeoutFail({
              duration: callTimeout,
              onTimeout: () => new NodeUnavailable({ node: name, reason: "Timeout" })
            }),
            Effect.flatMap(() => {
              const session = current(state)
              return session !== undefined ? Effect.succeed(session) : notConnected
            })
          )
        })
        const made = makeNodeClient(endpoint, name, group, resolve, () => current(state))
        byName.set(name, made)
        return made
      }).pipe(Effect.tap(() => checkName("parent", name)))

    return withEndpoint(
      Remote.of({
        name: options.name,
        parent,
        status: (name) => Effect.flatMap(stateOf(name), (state) => SubscriptionRef.get(state.status)),
        changes: (name) => Stream.unwrap(Effect.map(stateOf(name), (state) => state.status.changes)),
        awaitConnected
      }),
      endpoint
    )
  })
