/**
 * What a host agent (`hotaru join`) offers the master over its master link: the state of the
 * nodes it supervises on its host, a restart of one of them, and a stop of them all. The agent
 * links to the master's rootport like a node, under the name `@agent:<host>`.
 *
 * @internal
 */
import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import { ChildState } from "../control/childState.js"

/** The link name of the agent of `host`. */
export const agentName = (host: string): string => `@agent:${host}`

/** Whether a child name of the master's rootport is an agent's. */
export const isAgentName = (name: string): boolean => name.startsWith("@agent:")

/** One node an agent supervises, as its supervisor sees it. */
export const AgentNode = Schema.Struct({
  name: Schema.String,
  state: ChildState,
  pid: Schema.NullOr(Schema.Number),
  restarts: Schema.Number,
  uptimeMs: Schema.NullOr(Schema.Number),
  lastExit: Schema.NullOr(Schema.String)
})
export type AgentNode = typeof AgentNode.Type

/** An agent's report: its host, its pid, and its nodes. */
export const AgentStatus = Schema.Struct({
  host: Schema.String,
  pid: Schema.Number,
  nodes: Schema.Array(AgentNode)
})
export type AgentStatus = typeof AgentStatus.Type

/** A restart the agent could not do: it supervises no node of that name. */
export class AgentNoSuchNode extends Schema.TaggedError<AgentNoSuchNode>()("AgentNoSuchNode", {
  node: Schema.String,
  host: Schema.String
}) {}

/** The agent's services to the master. */
export class AgentService extends RpcGroup.make(
  Rpc.make("Status", { success: AgentStatus }),
  Rpc.make("Restart", { payload: { node: Schema.String }, error: AgentNoSuchNode }),
  Rpc.make("Stop")
) {}
