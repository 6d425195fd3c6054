/**
 * A player on this node's client edge: push an encoded body to it, or close its connection.
 * What a node does when the master routes a push or a kick to it (see `Players`), and the
 * shortcut `Players.push` takes when the player is here.
 *
 * @internal
 */
import { Effect, Option } from "effect"
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

/** Hand over the session a resume token of this node names, if `edge` holds it (see `Players`). */
export const takeSession = (
  edge: Edge,
  request: SessionTake
): Effect.Effect<SessionHandover, ResumeRefused> =>
  Option.match(edge, {
    onNone: () => Effect.fail(new ResumeRefused({ reason: "Unknown" })),
    onSome: (server) => server.handOver(request)
  })
