/**
 * The error frame's body, shared by the edge and the client (re-exported by `NetCommand`).
 */
import { Schema } from "effect"

/**
 * The body of an error frame: `{"command":100,"error":"UnknownCommand","message":"…"}`. `error`
 * is `UnknownCommand`, `BadRequest` (the body did not decode), `HandlerFailed` (with `tag` set
 * to the handler's typed error `_tag` when it has one), `Defect`, or `Timeout` (the handler did
 * not answer within the server's `requestTimeout`; what it did is unknown). `message` carries no
 * internal text (SQL, stacks, defects) unless the server runs with `debugErrors`.
 *
 * When the command declares an `error` Schema and the handler failed with one of its errors,
 * the body also has `value`: that error encoded by the Schema, as JSON
 * (`{"command":1,"error":"HandlerFailed","message":"join failed","tag":"RoomFull","value":{"_tag":"RoomFull","room":"r1"}}`).
 * Commands without one never get `value`: their frame is what it always was.
 *
 * @since 0.1.0
 * @category utils
 */
export const ErrorBody = Schema.Struct({
  command: Schema.Number,
  error: Schema.Literal("UnknownCommand", "BadRequest", "HandlerFailed", "Defect", "Overloaded", "Timeout"),
  message: Schema.String,
  tag: Schema.optionalWith(Schema.String, { exact: true }),
  value: Schema.optionalWith(Schema.Unknown, { exact: true })
})
export type ErrorBody = typeof ErrorBody.Type

/**
 * Decode the JSON value of an error frame body.
 *
 * @since 0.1.0
 * @category utils
 */
export const decodeErrorBody = Schema.decodeUnknownEither(ErrorBody)
