/**
 * The `/status` document of the master's admin API (re-exported by the public `AdminApi`
 * module; the dashboard sends it too).
 *
 * @internal
 */
import { Schema } from "effect"
import { JobReport } from "../jobs/jobReport.js"
import { ParentLink } from "./adminRpc.js"
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
  capabilities: Schema.Array(Schema.String),
  parents: Schema.Array(ParentLink),
  children: Schema.Array(Schema.String),
  connections: Schema.Number,
  /** Request frames its client edge received since it started. */
  messages: Schema.Number,
  reloads: Schema.Number,
  /** Rows the node's repositories refused and dead-lettered since it started. */
  deadLettered: Schema.Number,
  /** Its scheduled jobs: last run (start, duration, outcome) and next run (see `Jobs`). */
  jobs: Schema.Array(JobReport)
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
