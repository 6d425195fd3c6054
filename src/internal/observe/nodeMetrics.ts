/**
 * A node's metrics: its part of the process's registry (`Snapshot.forNode`), as a document (the
 * admin RPC `Metrics`) and as Prometheus text (the node's `/metrics` on its webport).
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
