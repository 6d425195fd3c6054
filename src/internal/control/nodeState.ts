/**
 * `NodeState`, the state of a node in the master's `/status` (re-exported by the public
 * `AdminApi` module; the master's view of its host agents fills it in for their nodes).
 *
 * @internal
 */
import { Schema } from "effect"
import { ChildState } from "./childState.js"

/**
 * The state of a node in `/status`: its supervisor's state (the master's, or for a node on
 * another host its host agent's), or, for a node the master does not run itself
 * (`hotaru start --only`), `waiting-for-agent` (no agent has reported it yet) or `agent-lost`
 * (the agent that ran it is gone: its link to the master is down).
 *
 * @since 0.1.0
 * @category models
 */
export const NodeState = Schema.Union(ChildState, Schema.Literal("waiting-for-agent", "agent-lost"))
export type NodeState = typeof NodeState.Type
