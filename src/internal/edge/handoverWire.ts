/**
 * A session moving between front nodes (resume on another front): what the front that holds it
 * hands over, and the edge's reach to the other fronts (through the master, see `Players`).
 *
 * What crosses: the uid, the channels it is in, how many requests the old front received, and
 * the frames the client has not received (command id and body; the new front frames them with
 * its own frame options). Session data does not cross (`Session.key` values are arbitrary, not
 * serializable): the new front's `onBind` hooks run and can rebuild it.
 *
 * @internal
 */
import { Context, type Effect, Schema } from "effect"
import { MAX_CHANNELS_PER_CONNECTION } from "./channels.js"
import { type ResumeRefused, ResumeRequest } from "./resumeWire.js"

/** A client's `Resume` request, as it travels to the front that issued its token. */
export const SessionTake = Schema.Struct({
  ...ResumeRequest.fields,
  uid: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256))
})
export type SessionTake = typeof SessionTake.Type

/** What the front holding a session hands over to the front its client reconnected to. */
export const SessionHandover = Schema.Struct({
  uid: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256)),
  channels: Schema.Array(Schema.String.pipe(Schema.maxLength(256))).pipe(
    Schema.maxItems(MAX_CHANNELS_PER_CONNECTION)
  ),
  /** Request frames the old front received: the client re-sends the ones after. */
  requests: Schema.Int.pipe(Schema.nonNegative()),
  /** The frames the client missed, in order. */
  frames: Schema.Array(
    Schema.Struct({
      command: Schema.Int.pipe(Schema.between(0, 0xffff_ffff)),
      body: Schema.Uint8ArrayFromSelf
    })
  )
})
export type SessionHandover = typeof SessionHandover.Type

/**
 * A session a stopping front hands to the master for the rest of its window (its drain's end,
 * or at once when no other front is configured): its whole replay ring (`frames`, the first of
 * them the client's frame number `first`) and the ring's bounds, so the master can replay from
 * any point the client is at, keep the pushes sent meanwhile, and refuse a client it cannot
 * catch up (`Resync`).
 */
export const HeldSession = Schema.Struct({
  token: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(300)),
  ...SessionHandover.fields,
  first: Schema.Int.pipe(Schema.nonNegative()),
  /** Milliseconds left of its resume window. */
  ttl: Schema.Int.pipe(Schema.between(0, 86_400_000)),
  /** Its ring's bounds (the front's `resume.buffer` and `resume.bufferBytes`). */
  maxFrames: Schema.Int.pipe(Schema.between(1, 1_000_000)),
  maxBytes: Schema.Int.pipe(Schema.between(1, 1024 * 1024 * 1024))
})
export type HeldSession = typeof HeldSession.Type

/**
 * The edge's reach to the other fronts: take the session a foreign token names from node `node`
 * (or from the master, which holds the sessions of stopped fronts). Present on a node linked to a
 * master; without it a foreign token is `Unknown`.
 *
 * `hold` hands sessions to the master as the front stops (how many it kept); `alone`: no other
 * front is configured, so the drain hands them over at once instead of waiting for takes.
 */
export class Handover extends Context.Tag("hotaru/internal/Handover")<
  Handover,
  {
    readonly take: (node: string, request: SessionTake) => Effect.Effect<SessionHandover, ResumeRefused>
    readonly hold?: (sessions: ReadonlyArray<HeldSession>) => Effect.Effect<number>
    readonly alone?: boolean
  }
>() {}

/** The node that issued a token (`<node>.<22 base64url characters>`); undefined if malformed. */
export const tokenNode = (token: string): string | undefined => {
  const dot = token.lastIndexOf(".")
  if (dot <= 0 || !/^[A-Za-z0-9_-]{22}$/.test(token.slice(dot + 1))) return undefined
  return token.slice(0, dot)
}
