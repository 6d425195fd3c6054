/**
 * Players across the cluster: the master routes a push (or a kick) to a player id to the node
 * whose client edge holds it. Nodes ask the master (`PlayersService`, served on the master's
 * rootport); the master asks each node (`PushPlayer` / `KickPlayer` of `AdminService`). The body
 * travels encoded (the command's own codec): the master never decodes it.
 *
 * @internal
 */
import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import { MAX_MEMBERS_LISTED } from "../edge/channels.js"
import { HeldSession, SessionHandover, SessionTake } from "../edge/handoverWire.js"
import { ResumeRefused } from "../edge/resumeWire.js"

/** A player id on the wire: bounded like everything a link carries. */
export const Uid = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256))

/** A push to one player: the command id and its encoded body. */
export const PlayerPush = Schema.Struct({
  uid: Uid,
  command: Schema.Int.pipe(Schema.between(0, 0xffff_ffff)),
  body: Schema.Uint8ArrayFromSelf
})

/** A push to every member of a channel: its name, the command id and the encoded body. */
export const ChannelPush = Schema.Struct({
  channel: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256)),
  command: Schema.Int.pipe(Schema.between(0, 0xffff_ffff)),
  body: Schema.Uint8ArrayFromSelf
})

/** A channel name on the wire. */
export const ChannelName = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256))

/** A channel's members on one node: how many connections, and the players bound among them. */
export const NodeMembers = Schema.Struct({
  count: Schema.Int.pipe(Schema.nonNegative()),
  uids: Schema.Array(Uid).pipe(Schema.maxItems(MAX_MEMBERS_LISTED))
})

/**
 * A channel's members on node `node`: how many connections joined it there (`count`), and the
 * player ids bound among them (`uids`, at most 4,096 listed; an unbound connection has none).
 *
 * @since 0.1.0
 * @category models
 */
export const ChannelMembers = Schema.Struct({ node: Schema.String, ...NodeMembers.fields })
export type ChannelMembers = typeof ChannelMembers.Type

/**
 * The push reached the player: the node holding its connection, or `master` when the player's
 * front stopped and the master holds its session for resume (the push waits in its replay buffer).
 *
 * @since 0.1.0
 * @category models
 */
export const Delivered = Schema.Struct({ node: Schema.String })
export type Delivered = typeof Delivered.Type

/**
 * No node of the cluster has a connection bound to `uid`.
 *
 * @since 0.1.0
 * @category errors
 */
export class PlayerOffline extends Schema.TaggedError<PlayerOffline>()("PlayerOffline", {
  uid: Schema.String
}) {
  override get message(): string {
    return `player ${this.uid} is not connected to any node`
  }
}

/**
 * Players on other nodes cannot be reached: the node has no master link (`NoMaster`: run under
 * `hotaru start`), or the master did not answer (`Unreachable`).
 *
 * @since 0.1.0
 * @category errors
 */
export class PlayersUnavailable extends Schema.TaggedError<PlayersUnavailable>()("PlayersUnavailable", {
  reason: Schema.Literal("NoMaster", "Unreachable"),
  detail: Schema.String
}) {
  override get message(): string {
    return `players on other nodes are unreachable: ${this.detail}`
  }
}

/**
 * What the master offers its nodes: push to a player wherever it is connected, kick a player on
 * every node but the caller (one login per player across the fronts), push to a channel's
 * members on every node but the caller, move a session to the caller (resume on another
 * front), and hold the sessions of a stopping front for their window (resume after its restart).
 *
 * @since 0.1.0
 * @category models
 */
export class PlayersService extends RpcGroup.make(
  Rpc.make("Push", { payload: PlayerPush, success: Delivered, error: PlayerOffline }),
  Rpc.make("KickElsewhere", { payload: { uid: Uid }, success: Schema.Array(Schema.String) }),
  /** Push to the channel's members on every node but the caller; how many got it. */
  Rpc.make("PushChannelElsewhere", { payload: ChannelPush, success: Schema.Int }),
  /** A channel's members on every node but the caller (the nodes where it has some). */
  Rpc.make("ChannelMembersElsewhere", {
    payload: { channel: ChannelName },
    success: Schema.Array(ChannelMembers)
  }),
  /**
   * Take the session a resume token of front `node` names, for the caller (the front its client
   * reconnected to): refused typed, `Unknown` when `node` is no linked front.
   */
  Rpc.make("TakeSession", {
    payload: { node: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256)), ...SessionTake.fields },
    success: SessionHandover,
    error: ResumeRefused
  }),
  /** Hold the caller's sessions for the rest of their window (it is stopping); how many were kept. */
  Rpc.make("HoldSessions", {
    payload: { sessions: Schema.Array(HeldSession).pipe(Schema.maxItems(100_000)) },
    success: Schema.Int
  })
) {}
