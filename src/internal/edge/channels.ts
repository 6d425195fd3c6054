/**
 * Channels: named groups of one edge's connections (a room, a guild chat, a match). A
 * connection leaves every channel when it closes; an empty channel is forgotten. A connection
 * may be in at most `MAX_CHANNELS_PER_CONNECTION` at once, so a client that makes its handlers
 * join channel after channel costs bounded memory.
 */
import { Schema } from "effect"
import type { ConnectionState } from "./connection.js"

/**
 * The most channels one connection is in at once.
 *
 * @since 0.1.0
 * @category utils
 */
export const MAX_CHANNELS_PER_CONNECTION = 256

/** The most uids one node lists of a channel's members (`count` says how many there are). */
export const MAX_MEMBERS_LISTED = 4096

/**
 * `Channel.join` was refused: the connection is in `MAX_CHANNELS_PER_CONNECTION` channels
 * already (`TooMany`), or it is closed (`Closed`). A `Schema.TaggedError`: a command may declare
 * it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ChannelRefused extends Schema.TaggedError<ChannelRefused>()("ChannelRefused", {
  reason: Schema.Literal("TooMany", "Closed"),
  channel: Schema.String
}) {}

/** The channels of one edge. */
export interface Channels {
  readonly join: (state: ConnectionState, channel: string) => ChannelRefused | undefined
  /** Whether the connection was in the channel. */
  readonly leave: (state: ConnectionState, channel: string) => boolean
  /** The connections in a channel (a live view: copy it before it can change). */
  readonly members: (channel: string) => ReadonlySet<ConnectionState> | undefined
  /** The connection closed: it leaves every channel. */
  readonly forget: (state: ConnectionState) => void
}

/** The channels of an edge. */
export const make = (): Channels => {
  const byName = new Map<string, Set<ConnectionState>>()
  const leave = (state: ConnectionState, channel: string) => {
    const members = byName.get(channel)
    if (members === undefined || !members.delete(state)) return false
    if (members.size === 0) byName.delete(channel)
    state.channels?.delete(channel)
    return true
  }
  return {
    join: (state, channel) => {
      if (state.closed || state.socket.destroyed) return new ChannelRefused({ reason: "Closed", channel })
      state.channels ??= new Set()
      if (state.channels.has(channel)) return undefined
      if (state.channels.size >= MAX_CHANNELS_PER_CONNECTION)
        return new ChannelRefused({ reason: "TooMany", channel })
      state.channels.add(channel)
      let members = byName.get(channel)
      if (members === undefined) {
        members = new Set()
        byName.set(channel, members)
      }
      members.add(state)
      return undefined
    },
    leave,
    members: (channel) => byName.get(channel),
    forget: (state) => {
      if (state.channels === undefined) return
      for (const channel of [...state.channels]) leave(state, channel)
    }
  }
}
