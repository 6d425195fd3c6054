/**
 * The services every node offers the master over its master link (re-exported by the public
 * `Admin` module; the master's admin surface calls them).
 *
 * @internal
 */
import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import { SessionHandover, SessionTake } from "../edge/handoverWire.js"
import { ResumeRefused } from "../edge/resumeWire.js"
import { JobReport } from "../jobs/jobReport.js"
import { Snapshot } from "../observe/snapshot.js"
import { ChannelName, ChannelPush, NodeMembers, PlayerPush, Uid } from "./playersRpc.js"

/**
 * A parent link of a node, as seen by the node.
 *
 * @since 0.1.0
 * @category utils
 */
export const ParentLink = Schema.Struct({ name: Schema.String, connected: Schema.Boolean })

/**
 * What a node reports about itself.
 *
 * @since 0.1.0
 * @category utils
 */
export const NodeStatus = Schema.Struct({
  name: Schema.String,
  pid: Schema.Number,
  uptimeMs: Schema.Number,
  capabilities: Schema.Array(Schema.String),
  parents: Schema.Array(ParentLink),
  children: Schema.Array(Schema.String),
  connections: Schema.Number,
  /**
   * Request frames its client edge received (0 without a client edge): its
   * `hotaru_edge_events{event="requests"}` counter, as its `/metrics` shows it.
   */
  messages: Schema.Number,
  reloads: Schema.Number,
  /** Rows its repositories dead-lettered: its `hotaru_repository_dead_lettered_rows` over every table. */
  deadLettered: Schema.Number,
  /** Its scheduled jobs (`Jobs`). */
  jobs: Schema.Array(JobReport)
})
export type NodeStatus = typeof NodeStatus.Type

/**
 * A reload that could not be done; the node keeps its previous handlers.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReloadFailed extends Schema.TaggedError<ReloadFailed>()("ReloadFailed", {
  node: Schema.String,
  detail: Schema.String
}) {}

/**
 * The master's view of a node.
 *
 * @since 0.1.0
 * @category models
 */
export class AdminService extends RpcGroup.make(
  Rpc.make("Status", { success: NodeStatus }),
  Rpc.make("Stop"),
  Rpc.make("Reload", { success: Schema.Struct({ module: Schema.String }), error: ReloadFailed }),
  /** The node's metrics (its samples of the process's Effect metric registry, see docs/observability.md). */
  Rpc.make("Metrics", { success: Snapshot }),
  /** Push to player `uid` if this node's client edge holds it (see `Players`). */
  Rpc.make("PushPlayer", { payload: PlayerPush, success: Schema.Boolean }),
  /** Close player `uid`'s connection if this node's client edge holds it. */
  Rpc.make("KickPlayer", { payload: { uid: Uid }, success: Schema.Boolean }),
  /** Push to the members of a channel on this node's client edge; how many got it. */
  Rpc.make("PushChannel", { payload: ChannelPush, success: Schema.Int }),
  /** The members of a channel on this node's client edge. */
  Rpc.make("ChannelMembers", { payload: { channel: ChannelName }, success: NodeMembers }),
  /** Hand over the session a resume token of this node names (its client is on another front now). */
  Rpc.make("TakeSession", { payload: SessionTake, success: SessionHandover, error: ResumeRefused })
) {}
