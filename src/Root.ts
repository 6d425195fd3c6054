/**
 * The parent side of hotaru's node links (firefly's `rootport`).
 *
 * A Root listens for child nodes. Each child dials in once, registers under
 * its name, and from then on both sides call each other over that one link:
 * the Root serves groups to every child (`Root.serve`) and calls each child's
 * groups through `root.child(name, group)`.
 *
 * @since 0.1.0
 */
import type * as Headers from "@effect/platform/Headers"
import type * as Rpc from "@effect/rpc/Rpc"
import type * as RpcClient from "@effect/rpc/RpcClient"
import type * as RpcGroup from "@effect/rpc/RpcGroup"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as internal from "./internal/bilateral.js"
import type { Link } from "./internal/link.js"
import { NodeUnavailable, type RegistrationRefused } from "./NodeError.js"
import { type Address, Transport, type TransportError } from "./Transport.js"

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
  /** Allowed child names; undefined accepts any name. */
  readonly accept?: ReadonlyArray<string> | undefined
  readonly heartbeat?: HeartbeatOptions | undefined
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
    /** @internal */
    readonly endpoint: internal.Endpoint
  }
>() {
  /**
   * Listen on `host:port` and accept child registrations.
   *
   * A child's hello names itself and the parent it expects; it is refused
   * (`RegistrationRefused`) when the parent name differs ("WrongParent"),
   * the name is not in `accept` ("UnknownName"), or a live child already
   * holds the name ("DuplicateName").
   *
   * @since 0.1.0
   */
  static readonly layer = (options: RootOptions): Layer.Layer<Root, TransportError, Transport> =>
    Layer.scoped(Root, make(options))

  /**
   * Serve `group` to every child, with the handlers of `handlers`
   * (`group.toLayer(...)`). A handler sees the calling child's name with
   * `Root.callerOf(options)`.
   *
   * @since 0.1.0
   */
  static readonly serve = <Rpcs extends Rpc.Any, E, R>(
    group: RpcGroup.RpcGroup<Rpcs>,
    handlers: Layer.Layer<Rpc.ToHandler<Rpcs>, E, R>
  ): Layer.Layer<never, E, Root | R | Rpc.Middleware<Rpcs> | Rpc.Context<Rpcs>> =>
    Layer.scopedDiscard(Effect.flatMap(Root, (root) => internal.serve(root.endpoint, group, undefined))).pipe(
      Layer.provide(handlers)
    )

  /**
   * The name of the node that made the current call, from a handler's
   * `options` (`(payload, options) => ...`). Works for Root and Remote
   * handlers alike.
   *
   * @since 0.1.0
   */
  static readonly callerOf = (options: { readonly headers: Headers.Headers }): string =>
    options.headers[internal.callerHeader] ?? "unknown"
}

const make = (options: RootOptions) =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const heartbeat = internal.resolveHeartbeat(options.heartbeat)
    const endpoint = new internal.Endpoint(options.name)
    const accept = options.accept === undefined ? undefined : new Set(options.accept)
    /** Names held by a live (or registering) child. */
    const reserved = new Set<string>()
    const connected = new Map<string, internal.Session>()
    const names = yield* SubscriptionRef.make<ReadonlyArray<string>>([])
    const events = yield* PubSub.unbounded<ChildEvent>()
    yield* Effect.addFinalizer(() => PubSub.shutdown(events))

    const listener = yield* transport.listen({ host: options.host, port: options.port })

    const refuse = (link: Link, reason: RegistrationRefused["reason"]) =>
      Effect.sync(() => {
        link.unsafeSend([internal.F_REFUSED, reason, options.name])
        link.unsafeClose()
      })

    const handle = (link: Link) =>
      Effect.gen(function* () {
        const first = yield* link.incoming.take.pipe(Effect.timeout(heartbeat.timeout), Effect.option)
        if (
          Option.isNone(first) ||
          !Array.isArray(first.value) ||
          first.value[0] !== internal.F_HELLO ||
          typeof first.value[1] !== "string" ||
          typeof first.value[2] !== "string"
        ) {
          return yield* link.close
        }
        const name: string = first.value[1]
        const parent: string = first.value[2]
        if (parent !== options.name) return yield* refuse(link, "WrongParent")
        if (accept !== undefined && !accept.has(name)) return yield* refuse(link, "UnknownName")
        if (reserved.has(name)) return yield* refuse(link, "DuplicateName")
        reserved.add(name)
        yield* internal
          .runSession({
            endpoint,
            link,
            peerName: name,
            heartbeat,
            onReady: (session) =>
              Effect.gen(function* () {
                connected.set(name, session)
                link.unsafeSend([internal.F_WELCOME, options.name])
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
          })
          .pipe(Effect.ensuring(Effect.sync(() => reserved.delete(name))))
      }).pipe(Effect.ensuring(link.close))

    yield* listener.accept.pipe(
      Stream.runForEach((link) => Effect.forkScoped(handle(link))),
      Effect.forkScoped
    )

    const child = <Rpcs extends Rpc.Any>(name: string, group: RpcGroup.RpcGroup<Rpcs>) =>
      Effect.sync(() =>
        internal.makeNodeClient(
          name,
          group,
          Effect.suspend(() => {
            const session = connected.get(name)
            return session?.live
              ? Effect.succeed(session)
              : Effect.fail(new NodeUnavailable({ node: name, reason: "NotConnected" }))
          }),
          () => {
            const session = connected.get(name)
            return session?.live ? session : undefined
          }
        )
      )

    return Root.of({
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
      endpoint
    })
  })
