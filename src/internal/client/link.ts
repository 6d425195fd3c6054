/**
 * What a client keeps across its connections, for a resume: the calls waiting, the pushes, the
 * session's resume token, and the counts of frames sent and received (no system frames).
 */
import { Context, Effect, Either, Queue } from "effect"
import type { Push } from "../../Client.js"
import type { ErrorBody } from "../edge/errorBody.js"
import type { ClientError } from "./errors.js"

/** An error frame, decoded, that answers a call. */
export interface Failed {
  readonly body: ErrorBody
}

/** A call waiting for its reply. */
export interface Pending {
  readonly command: number
  /** Its request's number among the session's requests (a resume re-sends from the server's count). */
  index: number
  /** The request frame (re-sent by a resume); undefined: not re-sent (a system request). */
  readonly frame: Uint8Array | undefined
  readonly resolve: (result: Either.Either<Uint8Array, Failed | ClientError>) => void
}

/** What a client keeps across its connections. */
export interface Link {
  /** The session's uid and latest resume token (from the server's session frame). */
  session: { readonly uid: string; readonly token: string } | undefined
  /** Frames received / requests sent on the session's connections (no system frames). */
  received: number
  sent: number
  /** Calls waiting for a reply, oldest first. */
  readonly pending: Array<Pending>
  readonly pushes: Queue.Queue<Push>
  /** Keep calls waiting when a connection with a session closes (a resume may answer them). */
  readonly keep: boolean
  /** The newest connection's resume (set when it was opened to resume). */
  resume: Effect.Effect<boolean, ClientError> | undefined
}

/** A fresh link. */
export const makeLink = (keep: boolean): Effect.Effect<Link> =>
  Effect.map(Queue.unbounded<Push>(), (pushes) => ({
    session: undefined,
    received: 0,
    sent: 0,
    pending: [],
    pushes,
    keep,
    resume: undefined
  }))

/** The link a connection is opened on (a reconnecting client's); absent: its own. */
export class CurrentLink extends Context.Tag("hotaru/Client/CurrentLink")<CurrentLink, Link>() {}

/** Fail the calls waiting (all, or only those a resume cannot answer). */
export const failPending = (link: Link, error: ClientError, onlyUnresumable = false): void => {
  const keep: Array<Pending> = []
  for (const p of link.pending.splice(0)) {
    if (onlyUnresumable && p.frame !== undefined) keep.push(p)
    else p.resolve(Either.left(error))
  }
  link.pending.push(...keep)
}
