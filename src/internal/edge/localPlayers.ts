/**
 * A player on this node's client edge: push an encoded body to it, or close its connection.
 * What a node does when the master routes a push or a kick to it (see `Players`), and the
 * shortcut `Players.push` takes when the player is here.
 *
 * @internal
 */
import { Effect, Option } from "effect"
import { MAX_MEMBERS_LISTED } from "./channels.js"
import type { SessionHandover, SessionTake } from "./handoverWire.js"
import { ResumeRefused } from "./resumeWire.js"
import type { NetServer } from "./service.js"

type Edge = Option.Option<NetServer["Type"]>

/** Push `body` as `command` to `uid` if `edge` holds it; whether it did. */
export const push = (edge: Edge, uid: string, command: number, body: Uint8Array): Effect.Effect<boolean> =>
  Option.match(edge, {
    onNone: () => Effect.succeed(false),
    onSome: (server) =>
      Effect.flatMap(
        server.connectionOf(uid),
        Option.match({
          onNone: () => Effect.succeed(false),
          onSome: (id) => Effect.map(server.pushRaw(command, body, [id]), (n) => n > 0)
        })
      )
  })

/** Close `uid`'s connection if `edge` holds it; whether it did. */
export const kick = (edge: Edge, uid: string): Effect.Effect<boolean> =>
  Option.match(edge, {
    onNone: () => Effect.succeed(false),
    onSome: (server) =>
      Effect.flatMap(
        server.connectionOf(uid),
        Option.match({ onNone: () => Effect.succeed(false), onSome: server.kick })
      )
  })

/** Push `body` as `command` to the members of `channel` on `edge`; how many got it. */
export const pushChannel = (
  edge: Edge,
  channel: string,
  command: number,
  body: Uint8Array
): Effect.Effect<number> =>
  Option.match(edge, {
    onNone: () => Effect.succeed(0),
    onSome: (server) =>
      Effect.flatMap(server.members(channel), (ids) =>
        ids.length === 0 ? Effect.succeed(0) : server.pushRaw(command, body, ids)
      )
  })

/** The members of `channel` on `edge`: how many, and the uids bound among them (the first 4,096). */
export const channelMembers = (
  edge: Edge,
  channel: string
): Effect.Effect<{ readonly count: number; readonly uids: ReadonlyArray<string> }> =>
  Option.match(edge, {
    onNone: () => Effect.succeed({ count: 0, uids: [] }),
    onSome: (server) =>
      Effect.gen(function* () {
        const ids = yield* server.members(channel)
        const uids: Array<string> = []
        for (const id of ids) {
          if (uids.length >= MAX_MEMBERS_LISTED) break
          const uid = yield* server.uidOf(id)
          if (Option.isSome(uid)) uids.push(uid.value)
        }
        return { count: ids.length, uids }
      })
  })

/** What a node answers the master for its players (`AdminService`'s player calls). */
export const handlers = (edge: Edge) => ({
  PushPlayer: ({ body, command, uid }: PushRequest) => push(edge, uid, command, body),
  KickPlayer: ({ uid }: { readonly uid: string }) => kick(edge, uid),
  PushChannel: ({ body, channel, command }: ChannelRequest) => pushChannel(edge, channel, command, body),
  ChannelMembers: ({ channel }: { readonly channel: string }) => channelMembers(edge, channel),
  TakeSession: (request: SessionTake) => takeSession(edge, request)
})

interface PushRequest {
  readonly uid: string
  readonly command: number
  readonly body: Uint8Array
}

interface ChannelRequest {
  readonly channel: string
  readonly command: number
  readonly body: Uint8Array
}

/** Hand over the session a resume token of this node names, if `edge` holds it (see `Players`). */
export const takeSession = (
  edge: Edge,
  request: SessionTake
): Effect.Effect<SessionHandover, ResumeRefused> =>
  Option.match(edge, {
    onNone: () => Effect.fail(new ResumeRefused({ reason: "Unknown" })),
    onSome: (server) => server.handOver(request)
  })
