/**
 * The bodies of the resume system frames (`SESSION_COMMAND`, `RESUME_COMMAND`), shared by the
 * edge and the client (no Node built-in: the client runs in browsers).
 */
import { Schema } from "effect"

/**
 * A `Resume` was refused: the client missed more frames than its session kept (`Resync`), the
 * token names no session here or not this uid (`Unknown`), its session's window is over
 * (`Expired`), it was used already (`Used`), or the frame is malformed, not the connection's
 * first, or a second attempt (`Invalid`). The client logs in again.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResumeRefused extends Schema.TaggedError<ResumeRefused>()("ResumeRefused", {
  reason: Schema.Literal("Resync", "Unknown", "Expired", "Used", "Invalid")
}) {}

/** The body of a client's `Resume` frame. */
export const ResumeRequest = Schema.Struct({
  token: Schema.String.pipe(Schema.maxLength(256)),
  uid: Schema.String,
  received: Schema.Int.pipe(Schema.nonNegative())
})

/** The server's answer to a `Resume` frame. */
export const ResumeReply = Schema.Union(
  Schema.TaggedStruct("ResumeOk", {
    requests: Schema.Int.pipe(Schema.nonNegative()),
    token: Schema.String
  }),
  ResumeRefused
)

/** The body of the server's `SESSION_COMMAND` frame. */
export const SessionToken = Schema.Struct({ uid: Schema.String, token: Schema.String })
