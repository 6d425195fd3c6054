/**
 * Errors that cross the wire between hotaru nodes (re-exported by the public
 * `NodeError` module).
 *
 * Both are `Schema.TaggedError`s, so they can appear in the `error` schema of
 * any user `Rpc`: a parent handler that calls a child may fail with
 * `NodeUnavailable` and the original caller receives it typed.
 *
 * @internal
 */
import * as Schema from "effect/Schema"

const unavailableMessages = {
  NotConnected: (node: string) => `node "${node}" is not connected`,
  LinkLost: (node: string) => `the link to node "${node}" was lost during the call`,
  Timeout: (node: string) => `node "${node}" did not come back in time`
} as const

const refusedMessages = {
  DuplicateName: (node: string, parent: string) =>
    `parent "${parent}" refused child "${node}": a live child already holds that name`,
  UnknownName: (node: string, parent: string) =>
    `parent "${parent}" refused child "${node}": the name is not in its accepted list`,
  WrongParent: (node: string, parent: string) =>
    `the node at the parent address refused child "${node}": it is not named "${parent}"`,
  Unauthenticated: (node: string, parent: string) =>
    `child "${node}" and parent "${parent}" failed to authenticate each other: their cluster secrets ` +
    `differ (set the same "secret" in the config or HOTARU_SECRET on every node and the master)`
} as const

/**
 * A call could not reach node `node`.
 *
 * - `NotConnected`: the link to that node is down right now (fail fast).
 * - `LinkLost`: the link dropped while the call was in flight.
 * - `Timeout`: the caller waited (`callTimeout`) for the link to come back, in vain.
 *
 * @since 0.1.0
 * @category errors
 */
export class NodeUnavailable extends Schema.TaggedError<NodeUnavailable>("hotaru/NodeUnavailable")(
  "NodeUnavailable",
  {
    node: Schema.String,
    reason: Schema.Literal("NotConnected", "LinkLost", "Timeout")
  }
) {
  override get message(): string {
    return unavailableMessages[this.reason](this.node)
  }
}

/**
 * A parent refused the registration of child `node`.
 *
 * - `DuplicateName`: a live child already holds that name.
 * - `UnknownName`: the parent only accepts a fixed list of child names.
 * - `WrongParent`: the child expected a parent of another name.
 * - `Unauthenticated`: one side could not prove it holds the cluster secret
 *   (the link handshake failed; the link is closed before any other frame).
 *
 * @since 0.1.0
 * @category errors
 */
export class RegistrationRefused extends Schema.TaggedError<RegistrationRefused>(
  "hotaru/RegistrationRefused"
)("RegistrationRefused", {
  node: Schema.String,
  parent: Schema.String,
  reason: Schema.Literal("DuplicateName", "UnknownName", "WrongParent", "Unauthenticated")
}) {
  override get message(): string {
    return refusedMessages[this.reason](this.node, this.parent)
  }
}
