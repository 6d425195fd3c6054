/**
 * The parent side of hotaru's node links (firefly's `rootport`).
 *
 * A Root listens for child nodes. Each child dials in once, registers under
 * its name, and from then on both sides call each other over that one link:
 * the Root serves groups to every child (`Root.serve`; a handler finds the
 * calling child as `Root.Caller`) and calls each child's groups through a
 * client built once (`Root.client(name, group)`, `Root.ChildClient`).
 *
 * @since 0.1.0
 */

import type * as Rpc from "@effect/rpc/Rpc"
import type * as RpcClient from "@effect/rpc/RpcClient"
import type * as RpcGroup from "@effect/rpc/RpcGroup"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { Caller } from "./Caller.js"
import { isLoopback } from "./HotaruConfig.js"
import { secretOf } from "./internal/config/secret.js"
import * as Handshake from "./internal/link/handshake.js"
import type { Link } from "./internal/link/link.js"
import * as Tracing from "./internal/observe/tracing.js"
import * as Admission from "./internal/rpc/rootAdmission.js"
import { makeNodeClient } from "./internal/rpc/rpcClientSide.js"
import { callerWhileBuilding, serve as serveGroup } from "./internal/rpc/rpcServerSide.js"
import { Endpoint, endpointOf, runSession, type Session, withEndpoint } from "./internal/rpc/rpcSession.js"
import { resolveHeartbeat } from "./internal/rpc/rpcWire.js"
import * as Topology from "./internal/rpc/topology.js"
import { NodeUnavailable } from "./NodeError.js"
import { type Address, Transport, TransportError } from "./Transport.js"

export {
  /**
   * The node that made the current call, in a handler's context
   * (`const { name } = yield* Root.Caller`).
   *
   * @since 0.1.0
   * @category tags
   */
  Caller
}

/**
 * A child joined or left.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildEvent {
  readonly _tag: "Joined" | "Left"
  readonly name: string
}

/**
 * Heartbeat settings: each side pings every `interval` (default 2 s) and
 * drops the link when nothing arrived for `timeout` (default 6 s).
 *
 * @since 0.1.0
 * @category models
 */
export interface HeartbeatOptions {
  readonly interval?: Duration.DurationInput | undefined
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * Options of `Root.layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RootOptions {
  /** This node's name; children must name it as their parent. */
  readonly name: string
  readonly host: string
  /** 0 picks a free port (see `root.address`). */
  readonly port: number
  /** Allowed child names (a list, or a test of the name); undefined accepts any name. */
  readonly accept?: ReadonlyArray<string> | ((name: string) => boolean) | undefined
  readonly heartbeat?: HeartbeatOptions | undefined
  /**
   * The cluster secret every child must prove it holds (HMAC challenge–response
   * at the start of each link). Without one the handshake authenticates
   * nothing, and `host` must be a loopback address.
   */
  readonly secret?: string | Redacted.Redacted<string> | undefined
  /** How long a new link may take to finish its handshake (default 5 s). */
  readonly helloTimeout?: Duration.DurationInput | undefined
}

/**
 * Counters of the links a Root turned away. Each is also counted by the
 * Effect `Metric` counter `hotaru_root_links_turned_away`, tagged `node` (the
 * Root's name) and `reason` (the key below).
 *
 * @since 0.1.0
 * @category models
 */
export interface RootStats {
  /** Peers that could not prove the cluster secret (refused with `Unauthenticated`). */
  readonly unauthenticated: number
  /** Links that did not finish their handshake in time. */
  readonly helloTimeouts: number
  /** Links whose first frames were not a handshake at all (or that closed during it). */
  readonly badHellos: number
  /** Authenticated children refused by name (`WrongParent`, `UnknownName`, `DuplicateName`). */
  readonly refused: number
  /** Links closed at once because too many handshakes were already under way. */
  readonly overloaded: number
}

/**
 * The parent role of a node.
 *
 * @since 0.1.0
 * @category tags
 */
export class Root extends Context.Tag("hotaru/Root")<
  Root,
  {
    /** This node's name. */
    readonly name: string
    /** The bound address (port 0 resolved). */
    readonly address: Address
    /**
     * A typed client of `group` served by child `name`. Every call fails with
     * `NodeUnavailable` ("NotConnected") when that child is not connected at
     * the time of the call, and with `NodeUnavailable` ("LinkLost") when its
     * link drops during the call; it never hangs on a dead link (heartbeat).
     * Built once per child and group (later calls return the same client);
     * prefer `Root.client` / `Root.ChildClient` in a layer.
     */
    readonly child: <Rpcs extends Rpc.Any>(
      name: string,
      group: RpcGroup.RpcGroup<Rpcs>
    ) => Effect.Effect<RpcClient.RpcClient<Rpcs, NodeUnavailable>>
    /** Names of the children connected now. */
    readonly children: Effect.Effect<ReadonlyArray<string>>
    /** Joined / Left events from the time of subscription on. */
    readonly changes: Stream.Stream<ChildEvent>
    /** Waits until child `name` is connected (returns at once if it is). */
    readonly awaitChild: (name: string) => Effect.Effect<void>
    /** Counters of the links turned away so far. */
    readonly stats: Effect.Effect<RootStats>
  }
>() {}

/**
 * Listen on `host:port` and accept child registrations.
 *
 * Every link starts with a mutual challenge–response over `secret`; a peer
 * that fails it is refused ("Unauthenticated", counted in `stats`, logged at
 * most every 10 s), one that does not finish it within `helloTimeout` is
 * closed. Then the child's hello names itself and the parent it expects; it
 * is refused (`RegistrationRefused`) when the parent name differs
 * ("WrongParent"), the name is not in `accept` ("UnknownName"), or a live
 * child already holds the name ("DuplicateName").
 *
 * Fails with `ListenFailed` when `host` is beyond loopback and there is no
 * `secret`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: RootOptions): Layer.Layer<Root, TransportError, Transport> =>
  Layer.scoped(Root, make(options))

/**
 * Serve `group` to every child, with the handlers of `handlers`
 * (`group.toLayer(...)`). A handler has the calling child in context as
 * `Root.Caller`.
 *
 * @since 0.1.0
 * @category layers
 */
export const serve = <Rpcs extends Rpc.Any, E, R>(
  group: RpcGroup.RpcGroup<Rpcs>,
  handlers: Layer.Layer<Rpc.ToHandler<Rpcs>, E, R>
): Layer.Layer<never, E, Exclude<R, Caller> | Root | Rpc.Middleware<Rpcs> | Rpc.Context<Rpcs>> =>
  Layer.scopedDiscard(Effect.flatMap(Root, (root) => serveGroup(endpointOf(root), group, undefined))).pipe(
    Layer.provide(handlers),
    Layer.provide(callerWhileBuilding)
  )

/**
 * The typed client of `group` served by child `name`, built once (its codecs
 * compiled once): yield it in a layer or a handler group's constructor, not
 * per request. Calls behave as `root.child`'s.
 *
 * @since 0.1.0
 * @category constructors
 */
export const client = <Rpcs extends Rpc.Any>(
  name: string,
  group: RpcGroup.RpcGroup<Rpcs>
): Effect.Effect<RpcClient.RpcClient<Rpcs, NodeUnavailable>, never, Root> =>
  Effect.flatMap(Root, (root) => root.child(name, group))

/**
 * A tag class whose service is the client of `group` on child `name`, with
 * its `layer` (built once, needs `Root`):
 *
 * ```ts
 * class Game1 extends Root.ChildClient<Game1>()("app/Game1", "game1", Game1Service) {}
 * // in a handler: const game1 = yield* Game1; ... Layer.provide(Game1.layer)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const ChildClient =
  <Self>() =>
  <const Id extends string, Rpcs extends Rpc.Any>(
    id: Id,
    name: string,
    group: RpcGroup.RpcGroup<Rpcs>
  ): NodeClientClass<Self, Id, Rpcs, Root> => {
    const tag = Context.Tag(id)<Self, RpcClient.RpcClient<Rpcs, NodeUnavailable>>()
    return Object.assign(tag, { layer: Layer.effect(tag, client(name, group)) })
  }

/**
 * A tag class of a node client (`Root.ChildClient`, `Remote.ParentClient`)
 * and the layer that builds the client.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeClientClass<Self, Id extends string, Rpcs extends Rpc.Any, R>
  extends Context.TagClass<Self, Id, RpcClient.RpcClient<Rpcs, NodeUnavailable>> {
  readonly layer: Layer.Layer<Self, never, R>
}

const make = (options: RootOptions) =>
  Effect.gen(function* () {
    const transport = yield* Transport
    if (options.secret === undefined && !isLoopback(options.host)) {
      return yield* new TransportError({
        reason: "ListenFailed",
        address: `${options.host}:${options.port}`,
        cause: new Error(Handshake.noSecretMessage(options.host))
      })
    }
    const heartbeat = resolveHeartbeat(options.heartbeat)
    const endpoint = new Endpoint(options.name, yield* Tracing.current)
    const checkName = yield* Topology.checker
    const admission = Admission.make({
      name: options.name,
      secret: secretOf(options.secret),
      helloTimeout: options.helloTimeout ?? Handshake.defaultHelloTimeout,
      accept: options.accept
    })
    const connected = new Map<string, Session>()
    const names = yield* SubscriptionRef.make<ReadonlyArray<string>>([])
    const events = yield* PubSub.unbounded<ChildEvent>()
    yield* Effect.addFinalizer(() => PubSub.shutdown(events))

    const listener = yield* transport.listen({ host: options.host, port: options.port })

    const handle = (link: Link) =>
      Effect.gen(function* () {
        const name = yield* admission.admit(link)
        if (name === undefined) return
        yield* runSession({
          endpoint,
          link,
          peerName: name,
          heartbeat,
          side: "child",
          onReady: (session) =>
            Effect.gen(function* () {
              connected.set(name, session)
              link.unsafeSend([Handshake.F_WELCOME, options.name])
              yield* SubscriptionRef.set(names, [...connected.keys()])
              yield* PubSub.publish(events, { _tag: "Joined", name } as ChildEvent)
            }),
          onClose: (session) =>
            Effect.gen(function* () {
              if (connected.get(name) !== session) return
              connected.delete(name)
              yield* SubscriptionRef.set(names, [...connected.keys()])
              yield* PubSub.publish(events, { _tag: "Left", name } as ChildEvent)
            })
        }).pipe(Effect.ensuring(Effect.sync(() => admission.release(name))))
      }).pipe(Effect.ensuring(link.close))

    yield* listener.accept.pipe(
      Stream.runForEach((link) => Effect.forkScoped(handle(link))),
      Effect.forkScoped
    )

    /** Clients built so far, by group and child name. */
    const clients = new WeakMap<object, Map<string, unknown>>()
    const child = <Rpcs extends Rpc.Any>(
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
        const current = () => {
          const session = connected.get(name)
          return session?.live ? session : undefined
        }
        const made = makeNodeClient(
          endpoint,
          name,
          group,
          Effect.suspend(() => {
            const session = current()
            return session !== undefined
              ? Effect.succeed(session)
              : Effect.fail(new NodeUnavailable({ node: name, reason: "NotConnected" }))
          }),
          current
        )
        byName.set(name, made)
        return made
      }).pipe(Effect.tap(() => checkName("child", name)))

    return withEndpoint(
      Root.of({
        name: options.name,
        address: listener.address,
        child,
        children: Effect.sync(() => [...connected.keys()]),
        changes: Stream.fromPubSub(events),
        awaitChild: (name) =>
          names.changes.pipe(
            Stream.filter((current) => current.includes(name)),
            Stream.take(1),
            Stream.runDrain
          ),
        stats: admission.stats
      }),
      endpoint
    )
  })
