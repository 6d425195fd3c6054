/**
 * `NodeError`, the local error of a node that could not start or reload
 * (re-exported by the public `NodeError` module, and as `Node.NodeError`).
 *
 * @internal
 */
import * as Data from "effect/Data"

/**
 * A node that could not start. `UnknownName`: its app names a parent or child the config gives
 * it no link to (`Remote.serve("lobbby", …)`, `root.child("rooom", …)`); the detail lists the
 * valid names.
 *
 * @since 0.1.0
 * @category errors
 */
export class NodeError extends Data.TaggedError("NodeError")<{
  readonly reason: "UnknownNode" | "UnknownName" | "AppLoad" | "MissingCapability" | "Start" | "Reload"
  readonly node: string
  readonly detail: string
}> {
  override get message(): string {
    return `node ${this.node}: ${this.detail}`
  }
}
