/**
 * Sessions: a connection bound to a player id. One uid has at most one connection on an edge; a
 * second login of the same uid follows the edge's policy (`kick` the old connection, or `refuse`
 * the new one). A binding ends with its connection. Plain maps, read on every push by uid.
 */
import { Effect, Schema } from "effect"
import type { ConnectionState } from "./connection.js"
import type { Edge } from "./edge.js"
import type { Flow } from "./flow.js"

/**
 * `bind` was refused: the connection is bound to another uid already (`AlreadyBound`), or the
 * uid is in use elsewhere and the policy is `refuse` (`InUse`). A `Schema.TaggedError`: a command
 * may declare it, and its client receives it typed.
 *
 * @since 0.1.0
 * @category errors
 */
export class SessionRefused extends Schema.TaggedError<SessionRefused>()("SessionRefused", {
  reason: Schema.Literal("AlreadyBound", "InUse", "Closed"),
  uid: Schema.String
}) {}

/**
 * What a second login of a bound uid does: `kick` closes the old connection (the default: the
 * player's newest device wins), `refuse` fails the new `bind` with `SessionRefused` `InUse`.
 *
 * @since 0.1.0
 * @category models
 */
export type DuplicatePolicy = "kick" | "refuse"

/** The sessions of one edge. */
export interface Sessions {
  /** Bind the connection to `uid`; returns the refusal, if any. */
  readonly bind: (state: ConnectionState, uid: string) => SessionRefused | undefined
  /** The connection bound to `uid`. */
  readonly connectionOf: (uid: string) => ConnectionState | undefined
  /** The binding ends with the connection. */
  readonly forget: (state: ConnectionState) => void
  readonly size: () => number
}

/** The sessions of an edge. */
export const make = (edge: Edge, flow: Flow, policy: DuplicatePolicy): Sessions => {
  const byUid = new Map<string, ConnectionState>()
  return {
    bind: (state, uid) => {
      if (state.closed || state.socket.destroyed) return new SessionRefused({ reason: "Closed", uid })
      if (state.uid !== undefined) {
        return state.uid === uid ? undefined : new SessionRefused({ reason: "AlreadyBound", uid })
      }
      const other = byUid.get(uid)
      if (other !== undefined && other !== state) {
        if (policy === "refuse") return new SessionRefused({ reason: "InUse", uid })
        // the old connection goes (its late close does not unbind the new one: it is not mapped),
        // its session with it (not parked for resume)
        other.noPark = true
        flow.flushOne(other)
        other.socket.destroySoon()
        edge.runPlain(
          Effect.log(`uid ${uid} logged in again: closing this connection`).pipe(edge.annotate(other.info))
        )
      }
      state.uid = uid
      byUid.set(uid, state)
      return undefined
    },
    connectionOf: (uid) => byUid.get(uid),
    // the closed connection keeps its uid (its disconnect hooks read it); the uid is free again
    forget: (state) => {
      const uid = state.uid
      if (uid !== undefined && byUid.get(uid) === state) byUid.delete(uid)
    },
    size: () => byUid.size
  }
}
