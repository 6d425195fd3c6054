/**
 * hotaru's own Effect `Metric`s beyond the client edge's (`hotaru_edge_events`, in
 * `edge/edge.ts`) and the root admission's (`hotaru_root_links_turned_away`): node links,
 * the supervisor, the write-behind repository. Each is tagged with the `node` it belongs to;
 * `docs/observability.md` lists them with their types, units and labels.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import { ChildState } from "../control/childState.js"

/**
 * The name of the node the current code runs in (provided by `Node.layer`): what the metrics of
 * code that is not given its node (a repository) are tagged with.
 */
export class NodeName extends Context.Tag("hotaru/observe/NodeName")<NodeName, string>() {}

/** Links (sessions) that became ready, by `node`, `peer` and `side` (`parent` / `child`). */
export const linkConnects = Metric.counter("hotaru_link_connects", {
  description: "node links that completed their handshake and became ready",
  incremental: true
})

/** Links that ended, by `node`, `peer`, `side` and `reason` (the transport's close reason). */
export const linkDisconnects = Metric.counter("hotaru_link_disconnects", {
  description: "node links that ended, by close reason",
  incremental: true
})

/** 1 while the link is up, 0 once it is down; by `node`, `peer`, `side`. */
export const linkUp = Metric.gauge("hotaru_link_up", {
  description: "1 while the node link to peer is up, 0 when it is down"
})

/** Restarts of a supervised child, by `node` (the child) — what `/status` shows as restarts. */
export const supervisorRestarts = Metric.counter("hotaru_supervisor_restarts", {
  description: "restarts of a supervised node (after an exit, a crash or an admin restart)",
  incremental: true
})

/** 1 for the state a supervised child is in, 0 for the others; by `node` and `state`. */
export const supervisorNodeState = Metric.gauge("hotaru_supervisor_node_state", {
  description:
    "1 for the supervisor state the node is in (starting, running, backoff, failed, failed-retrying, stopped)"
})

/** Journal slots written but not yet flushed to the database, by `node` and `table`. */
export const repositoryPending = Metric.gauge("hotaru_repository_pending_writes", {
  description: "write-behind queue depth: journal slots not yet flushed (sampled after each flush)"
})

/** Completed flushes (background, final and explicit), by `node` and `table`. */
export const repositoryFlushes = Metric.counter("hotaru_repository_flushes", {
  description: "write-behind flushes that completed",
  incremental: true
})

/** Flushes that failed (the rows stay queued and are retried), by `node` and `table`. */
export const repositoryFlushFailures = Metric.counter("hotaru_repository_flush_failures", {
  description: "write-behind flushes that failed (the rows stay queued for the next one)",
  incremental: true
})

/** How long a flush took, in seconds, by `node` and `table`. */
export const repositoryFlushSeconds = Metric.histogram(
  "hotaru_repository_flush_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 4, count: 8 }),
  "duration of a write-behind flush in seconds"
)

/** The metric names of the master's own supervision (never part of a node's snapshot). */
export const masterPrefixes: ReadonlyArray<string> = ["hotaru_supervisor_"]

/** The Effect cluster's per-process gauges, shown for the sharding node of a process. */
export const clusterPrefix = "effect_cluster_"

/** What the supervisor metrics read of a child. */
interface ChildView {
  readonly state: ChildState
  readonly restarts: number
}

/**
 * Record a supervised child's change from `previous` (none: just registered) to `next`: the
 * restarts it gained (a `launch` of a child that ran before is one, even when it resets the
 * child's count, as an admin restart does), and its state gauge.
 */
export const recordChild = (
  name: string,
  previous: ChildView | undefined,
  next: ChildView,
  launch = false
): Effect.Effect<void> =>
  Effect.sync(() => {
    const byNode = Metric.tagged(supervisorRestarts, "node", name)
    const gained = previous === undefined ? 0 : Math.max(next.restarts - previous.restarts, launch ? 1 : 0)
    byNode.unsafeUpdate(gained, [])
    if (previous?.state === next.state) return
    const states = Metric.tagged(supervisorNodeState, "node", name)
    for (const state of ChildState.literals) {
      Metric.tagged(states, "state", state).unsafeUpdate(state === next.state ? 1 : 0, [])
    }
  })
