/**
 * Channels: named groups of client connections on a node (a room, a guild chat, a match).
 *
 * ```ts
 * const JoinRoom = NetCommand.text(10, { error: ChannelRefused })
 * const App = Layer.mergeAll(
 *   NetServer.handle(JoinRoom, (room) => Effect.as(Channel.join(`room:${room}`), "joined")),
 *   NetServer.handle(Say, ({ room, text }) => Channel.push(`room:${room}`, Said, text))
 * )
 * ```
 *
 * A connection leaves every channel when it closes; TCP and WebSocket connections of the node
 * share them. A connection may be in at most 256 channels at once (`ChannelRefused` `TooMany`).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { ChannelRefused } from "./internal/edge/channels.js"
import { type CurrentConnection, NetServer, withConnection } from "./internal/edge/service.js"
import type * as NetCommand from "./NetCommand.js"

export { ChannelRefused, MAX_CHANNELS_PER_CONNECTION } from "./internal/edge/channels.js"

/**
 * Put the current connection in channel `name`.
 *
 * @since 0.1.0
 * @category utils
 */
export const join = (name: string): Effect.Effect<void, ChannelRefused, NetServer | CurrentConnection> =>
  withConnection((server, connection) => server.join(connection, name))

/**
 * Take the current connection out of channel `name`; false if it was not in it.
 *
 * @since 0.1.0
 * @category utils
 */
export const leave = (name: string): Effect.Effect<boolean, never, NetServer | CurrentConnection> =>
  withConnection((server, connection) => server.leave(connection, name))

/**
 * The connection ids in channel `name` on this node now (`Players.channelMembers` lists every
 * node's members).
 *
 * @since 0.1.0
 * @category utils
 */
export const members = (name: string): Effect.Effect<ReadonlyArray<number>, never, NetServer> =>
  Effect.flatMap(NetServer, (server) => server.members(name))

/**
 * Send `value` as `command` to every connection in channel `name`; returns how many got it.
 *
 * @since 0.1.0
 * @category utils
 */
export const push = <Name extends string, Req, Res>(
  name: string,
  command: NetCommand.Command<Name, Req, Res>,
  value: Res
): Effect.Effect<number, NetCommand.BodyError, NetServer> =>
  Effect.flatMap(NetServer, (server) => server.pushChannel(name, command, value))
