/**
 * The client side of session resume: the first frame of a new connection asks for the session
 * back (`Resume{token, uid, received}`); on `ResumeOk{requests, token}` the calls the server had
 * not received are re-sent in order (the ones it had are answered by its replay or later), on a
 * refusal every waiting call fails `Closed` and the caller logs in again.
 */
import { Effect, Either, Schema } from "effect"
import { ResumeReply, SessionToken } from "../edge/resumeWire.js"
import { ClientError } from "./errors.js"
import { type Failed, failPending, type Link } from "./link.js"

const decodeToken = Schema.decodeUnknownEither(Schema.parseJson(SessionToken))
const decodeReply = Schema.decodeUnknownEither(Schema.parseJson(ResumeReply))
const utf8 = new TextDecoder("utf-8")
const encoder = new TextEncoder()

/** The uid and token of a session frame; undefined if it does not decode. */
export const decodeSession = (
  body: Uint8Array
): { readonly uid: string; readonly token: string } | undefined => {
  try {
    return Either.getOrUndefined(decodeToken(utf8.decode(body)))
  } catch {
    return undefined
  }
}

/** What a resume needs of its connection. */
export interface Io {
  readonly request: (body: Uint8Array) => Effect.Effect<Uint8Array, ClientError | Failed>
  readonly write: (bytes: Uint8Array) => void
  /** The resume is answered (resumed or not): the connection counts frames for the session now. */
  readonly settle: (resumed: boolean) => void
}

/**
 * Resume the link's session on a new connection: true if resumed, false if refused (the calls
 * waiting failed); fails when the connection does (the session is kept for the next attempt).
 */
export const resume = (link: Link, io: Io): Effect.Effect<boolean, ClientError> =>
  Effect.suspend(() => {
    const session = link.session
    if (session === undefined) {
      io.settle(false)
      return Effect.succeed(false)
    }
    const body = encoder.encode(
      JSON.stringify({ token: session.token, uid: session.uid, received: link.received })
    )
    return io.request(body).pipe(
      Effect.map((reply): string | number => {
        const decoded = decodeReply(utf8.decode(reply))
        if (Either.isLeft(decoded)) return "Invalid"
        const answer = decoded.right
        if (answer._tag === "ResumeRefused") return answer.reason
        link.session = { uid: session.uid, token: answer.token }
        return answer.requests
      }),
      // an error frame (a server without resume) is a refusal; a dropped connection is retried
      Effect.catchAll((e) => (e instanceof ClientError ? Effect.fail(e) : Effect.succeed("Unknown"))),
      Effect.map((answer) => {
        if (typeof answer === "string") {
          link.session = undefined
          failPending(link, new ClientError({ reason: "Closed", detail: `session not resumed: ${answer}` }))
          io.settle(false)
          return false
        }
        const requests = Math.min(answer, link.sent)
        const resend = link.pending.filter((p) => p.frame !== undefined && p.index >= requests)
        link.sent = requests
        for (const p of resend) {
          p.index = link.sent++
          io.write(p.frame!)
        }
        io.settle(true)
        return true
      })
    )
  })
