/**
 * The client's errors (re-exported by `Client`).
 */
import { Data } from "effect"
import type * as NetCommand from "../../NetCommand.js"

/**
 * The connection failed, closed, timed out, or a body did not encode/decode (`Decode` also: an
 * error frame that does not decode, whose `value` does not match the command's error Schema).
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientError extends Data.TaggedError("ClientError")<{
  readonly reason: "Connect" | "Closed" | "Timeout" | "Encode" | "Decode"
  readonly detail: string
}> {
  override get message(): string {
    return `client: ${this.reason}: ${this.detail}`
  }
}

/**
 * The server answered an error frame (see `NetCommand.ErrorBody`) that carries no declared error:
 * an unknown command, a bad request, a defect, or a failure the command does not declare.
 *
 * @since 0.1.0
 * @category errors
 */
export class CommandFailed extends Data.TaggedError("CommandFailed")<{
  readonly command: number
  readonly error: NetCommand.ErrorBody["error"]
  readonly detail: string
  readonly tag: string | undefined
}> {
  override get message(): string {
    return `command ${this.command} failed: ${this.error}${this.tag ? ` (${this.tag})` : ""}: ${this.detail}`
  }
}
