/**
 * Players across the cluster (Pinus's push by uid, Nakama's single session per user): push to a
 * player, or kick it, from any node, wherever its connection is bound (`Session.bind` on some
 * front node's client edge). A node asks the master over its master link; the master asks every
 * node and the one whose edge holds the player delivers. A player on the calling node itself is
 * reached at once, without the master.
 *
 * `Players.bind(uid)` is `Session.bind` plus one login per player across the fronts: the uid's
 * connection on any other node is closed (the newest login wins, as `duplicateLogin: "kick"`
 * does on one node).
 *
 * ```ts
 * NetServer.handle(Login, (uid) => Effect.as(Players.bind(uid), "welcome"))
 * NetServer.handle(Tell, ({ to, text }) => Players.push(to, Told, text)) // Delivered | PlayerOffline
 * ```
 *
 * `Players.pushChannel(name, command, value)` reaches a channel's members on every node, and
 * `Players.channelMembers(name)` lists them (per node: how many, and the uids bound among them).
 *
 * Without a master (a node run on its own, `TestCluster`), players on other nodes are unreachable:
 * a push to a player that is not here fails `PlayersUnavailable` (`NoMaster`); a channel push
 * reaches this node's members.
 *
 * @since 0.1.0
 */
import { Context, Effect, Either, Layer } from "effect"
import {
  ChannelMembers,
  Delivered,
  PlayerOffline,
  PlayersService,
  PlayersUnavailable
} from "./internal/control/playersRpc.js"
import * as LocalPlayers from "./internal/edge/localPlayers.js"
import type { CurrentConnection } from "./internal/edge/service.js"
import { NetServer } from "./internal/edge/service.js"
import type * as NetCommand from "./NetCommand.js"
import * as Remote from "./Remote.js"
import * as Session from "./Session.js"

export { ChannelMembers, Delivered, PlayerOffline, PlayersService, PlayersUnavailable }

/**
 * A node's reach to the players of the cluster (every node has it; see {@link layer}).
 *
 * @since 0.1.0
 * @category services
 */
export class Players extends Context.Tag("hotaru/Players")<
  Players,
  {
    /** This node's name (what `Delivered` says of a player connected here). */
    readonly node: string
    /** Route an encoded push through the master to the node holding `uid`. */
    readonly route: (push: {
      readonly uid: string
      readonly command: number
      readonly body: Uint8Array
    }) => Effect.Effect<Delivered, PlayerOffline | PlayersUnavailable>
    /** Close `uid`'s connection on every other node; the nodes that had one. */
    readonly kickElsewhere: (uid: string) => Effect.Effect<ReadonlyArray<string>, PlayersUnavailable>
    /** Push an encoded body to a channel's members on every other node; how many got it. */
    readonly pushChannelElsewhere: (push: {
      readonly channel: string
      readonly command: number
      readonly body: Uint8Array
    }) => Effect.Effect<number, PlayersUnavailable>
    /** The members of a channel on every other node (the nodes where it has some). */
    readonly channelMembersElsewhere: (
      channel: string
    ) => Effect.Effect<ReadonlyArray<ChannelMembers>, PlayersUnavailable>
  }
>() {}

const unreachable = (e: { readonly message: string }) =>
  new PlayersUnavailable({ reason: "Unreachable", detail: e.message })

/**
 * The players of node `node`'s cluster, through its master link (`Remote`'s parent `master`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (node: string): Effect.Effect<Players["Type"], never, Remote.Remote> =>
  Effect.map(Remote.client("master", PlayersService), (master) => ({
    node,
    route: (push) =>
      master.Push(push).pipe(Effect.catchTag("NodeUnavailable", (e) => Effect.fail(unreachable(e)))),
    kickElsewhere: (uid) => master.KickElsewhere({ uid }).pipe(Effect.mapError(unreachable)),
    pushChannelElsewhere: (push) => master.PushChannelElsewhere(push).pipe(Effect.mapError(unreachable)),
    channelMembersElsewhere: (channel) =>
      master.ChannelMembersElsewhere({ channel }).pipe(Effect.mapError(unreachable))
  }))

/**
 * {@link make} as a layer: what a node linked to a master has.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (node: string): Layer.Layer<Players, never, Remote.Remote> =>
  Layer.effect(Players, make(node))

/**
 * A node without a master: only its own players are reachable.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAlone = (node: string): Layer.Layer<Players> =>
  Layer.succeed(Players, {
    node,
    route: () =>
      Effect.fail(
        new PlayersUnavailable({
          reason: "NoMaster",
          detail: `node ${node} has no master link (run it under hotaru start)`
        })
      ),
    kickElsewhere: () => Effect.succeed([]),
    pushChannelElsewhere: () => Effect.succeed(0),
    channelMembersElsewhere: () => Effect.succeed([])
  })

/**
 * Push `value` as `command` to player `uid`, on whichever node it is connected: the node that
 * delivered it, or `PlayerOffline`.
 *
 * @since 0.1.0
 * @category utils
 */
export const push = <Name extends string, Req, Res>(
  uid: string,
  command: NetCommand.Command<Name, Req, Res>,
  value: Res
): Effect.Effect<Delivered, PlayerOffline | PlayersUnavailable | NetCommand.BodyError, Players> =>
  Effect.gen(function* () {
    const players = yield* Players
    const body = command.encodeResponse(value)
    if (Either.isLeft(body)) return yield* body.left
    // no connection can be bound to a uid the link would refuse to carry
    if (uid.length === 0 || uid.length > 256) return yield* new PlayerOffline({ uid: uid.slice(0, 256) })
    const edge = yield* Effect.serviceOption(NetServer)
    if (yield* LocalPlayers.push(edge, uid, command.id, body.right)) return { node: players.node }
    return yield* players.route({ uid, command: command.id, body: body.right })
  })

/**
 * Push `value` as `command` to the members of channel `name` on every node of the cluster (a
 * channel's members are the connections that joined it on their own node: `Channel.join`);
 * how many connections got it (a member whose front stopped and whose session the master holds
 * for resume counts: the push waits in its replay buffer). `Channel.push` reaches this node's
 * members only.
 *
 * @since 0.1.0
 * @category utils
 */
export const pushChannel = <Name extends string, Req, Res>(
  name: string,
  command: NetCommand.Command<Name, Req, Res>,
  value: Res
): Effect.Effect<number, PlayersUnavailable | NetCommand.BodyError, Players> =>
  Effect.gen(function* () {
    const players = yield* Players
    const body = command.encodeResponse(value)
    if (Either.isLeft(body)) return yield* body.left
    const here = yield* LocalPlayers.pushChannel(
      yield* Effect.serviceOption(NetServer),
      name,
      command.id,
      body.right
    )
    // a name the link would refuse to carry (1–256 characters): this node's members only
    if (name.length === 0 || name.length > 256) return here
    const elsewhere = yield* players.pushChannelElsewhere({
      channel: name,
      command: command.id,
      body: body.right
    })
    return here + elsewhere
  })

/**
 * The members of channel `name` on every node of the cluster: per node where it has some, how
 * many connections joined it there and the player ids bound among them (at most 4,096 listed per
 * node; sessions the master holds for resume are listed under `master`). `Channel.members`
 * lists this node's connection ids only. A node that does not answer
 * counts as having none; a name the link would refuse (1–256 characters) lists this node only.
 *
 * @since 0.1.0
 * @category utils
 */
export const channelMembers = (
  name: string
): Effect.Effect<ReadonlyArray<ChannelMembers>, PlayersUnavailable, Players> =>
  Effect.gen(function* () {
    const players = yield* Players
    const here = yield* LocalPlayers.channelMembers(yield* Effect.serviceOption(NetServer), name)
    const local = here.count === 0 ? [] : [{ node: players.node, ...here }]
    if (name.length === 0 || name.length > 256) return local
    return [...local, ...(yield* players.channelMembersElsewhere(name))]
  })

/**
 * Close player `uid`'s connection wherever it is; the nodes that had one.
 *
 * @since 0.1.0
 * @category utils
 */
export const kick = (uid: string): Effect.Effect<ReadonlyArray<string>, PlayersUnavailable, Players> =>
  Effect.gen(function* () {
    const players = yield* Players
    const here = yield* LocalPlayers.kick(yield* Effect.serviceOption(NetServer), uid)
    const elsewhere = yield* players.kickElsewhere(uid)
    return here ? [players.node, ...elsewhere] : elsewhere
  })

/**
 * Bind the current connection to player `uid` (`Session.bind`), and close its connection on
 * every other node: one login per player across the cluster. The nodes it was closed on.
 *
 * @since 0.1.0
 * @category utils
 */
export const bind = (
  uid: string
): Effect.Effect<
  ReadonlyArray<string>,
  Session.SessionRefused | PlayersUnavailable,
  Players | NetServer | CurrentConnection
> =>
  Effect.zipRight(
    Session.bind(uid),
    Effect.flatMap(Players, (players) => players.kickElsewhere(uid))
  )
