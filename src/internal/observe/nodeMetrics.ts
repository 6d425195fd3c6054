/**
 * A node's metrics: its part of the process's registry (`Snapshot.forNode`), as a document (the
 * admin RPC `Metrics`), as Prometheus text (the node's `/metrics` on its webport), and the
 * counters the admin RPC `Status` reports (`/status`'s `messages` and `deadLettered`), read from
 * the same samples so that the two never disagree.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Prometheus from "./prometheus.js"
import * as Snapshot from "./snapshot.js"

/** The samples of node `name` (with the process's cluster gauges when it takes part in sharding). */
export const nodeSnapshot = (
  name: string,
  capabilities: ReadonlyArray<string>
): Effect.Effect<Snapshot.Snapshot> =>
  Effect.map(Snapshot.take, (samples) =>
    Snapshot.forNode(samples, name, capabilities.includes("runnerport") || capabilities.includes("entities"))
  )

/** The same in the exposition format. */
export const nodeExposition = (name: string, capabilities: ReadonlyArray<string>): Effect.Effect<string> =>
  Effect.map(nodeSnapshot(name, capabilities), Prometheus.render)

/** The sum of the counter samples named `name` (with label `label` = `value`, when given). */
export const counterTotal = (
  samples: Snapshot.Snapshot,
  name: string,
  label?: readonly [key: string, value: string]
): number => {
  let total = 0
  for (const s of samples) {
    if (s.name !== name || s.value._tag !== "counter") continue
    if (label !== undefined && Snapshot.labelOf(s, label[0]) !== label[1]) continue
    total += s.value.value
  }
  return total
}

/** What `Status` reports of a node's counters, from its samples. */
export interface NodeCounters {
  /** Request frames its client edge received (`hotaru_edge_events{event="requests"}`). */
  readonly messages: number
  /** Rows its repositories dead-lettered (`hotaru_repository_dead_lettered_rows`, every table). */
  readonly deadLettered: number
}

/** The counters of node `name` in `/status`, read from its snapshot (the one `/metrics` renders). */
export const nodeCounters = (
  name: string,
  capabilities: ReadonlyArray<string>
): Effect.Effect<NodeCounters> =>
  Effect.map(nodeSnapshot(name, capabilities), (samples) => ({
    messages: counterTotal(samples, "hotaru_edge_events", ["event", "requests"]),
    deadLettered: counterTotal(samples, "hotaru_repository_dead_lettered_rows")
  }))
