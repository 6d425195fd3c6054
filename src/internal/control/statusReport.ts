/**
 * The `/status` document of the master's admin API (re-exported by the public `AdminApi`
 * module; the dashboard sends it too).
 *
 * @internal
 */
import { Schema, Struct } from "effect"
import { NodeStatus } from "./adminRpc.js"
import { NodeState } from "./nodeState.js"

/**
 * How the master runs its nodes.
 *
 * @since 0.1.0
 * @category models
 */
export const Mode = Schema.Literal("process", "in-process")
export type Mode = typeof Mode.Type

/**
 * The master itself in `/status`.
 *
 * @since 0.1.0
 * @category models
 */
export const MasterReport = Schema.Struct({
  pid: Schema.Number,
  mode: Mode,
  uptimeMs: Schema.Number,
  rootport: Schema.Number,
  webport: Schema.NullOr(Schema.Number)
})
export type MasterReport = typeof MasterReport.Type

/**
 * One node in `/status`: the supervisor's view, and what the node says of itself when linked.
 * `host`: where it runs (the master's `roothost` or bind address for the master's own nodes, the
 * agent's host for the others; null while no agent has reported it).
 *
 * @since 0.1.0
 * @category models
 */
export const NodeReport = Schema.Struct({
  name: Schema.String,
  state: NodeState,
  host: Schema.NullOr(Schema.String),
  pid: Schema.NullOr(Schema.Number),
  restarts: Schema.Number,
  uptimeMs: Schema.NullOr(Schema.Number),
  lastExit: Schema.NullOr(Schema.String),
  linked: Schema.Boolean,
  // the rest is what the node says of itself (`NodeStatus`): one list of fields, not two copies
  ...Struct.omit(NodeStatus.fields, "name", "pid", "uptimeMs")
})
export type NodeReport = typeof NodeReport.Type

/**
 * The `/status` document.
 *
 * @since 0.1.0
 * @category models
 */
export const StatusReport = Schema.Struct({
  master: MasterReport,
  nodes: Schema.Array(NodeReport)
})
export type StatusReport = typeof StatusReport.Type
