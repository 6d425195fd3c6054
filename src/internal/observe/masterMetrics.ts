/**
 * The master's `/metrics`: its own samples (the supervision of its nodes, its `master` links)
 * and every linked node's snapshot, fetched over the admin link as `/status` fetches the nodes'
 * status; each node's samples carry its `node` label. A node that does not answer in time is
 * left out, and `hotaru_scrape_ok{node}` says so (1 answered, 0 not).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Prometheus from "./prometheus.js"
import * as Snapshot from "./snapshot.js"

/** Where the master gets a node's snapshot (its admin client's `Metrics` call). */
export type Fetch = (node: string) => Effect.Effect<Snapshot.Snapshot, unknown>

/** The aggregated samples of the master and of `nodes` (those not linked answer nothing). */
export const gather = (nodes: ReadonlyArray<string>, fetch: Fetch): Effect.Effect<Snapshot.Snapshot> =>
  Effect.gen(function* () {
    const own = Snapshot.forMaster(yield* Snapshot.take)
    const answers = yield* Effect.forEach(
      nodes,
      (node) =>
        Effect.map(Effect.exit(Effect.timeout(fetch(node), "2 seconds")), (exit) => ({
          node,
          // a node answers for itself only: anything else it sends is dropped
          samples: Exit.isSuccess(exit) ? exit.value.filter((s) => Snapshot.labelOf(s, "node") === node) : [],
          ok: Exit.isSuccess(exit)
        })),
      { concurrency: "unbounded" }
    )
    const scrapes = answers.map(
      ({ node, ok }): Snapshot.Sample => ({
        name: "hotaru_scrape_ok",
        help: "1 when the node answered the master's metrics call, 0 when it did not (not linked, no answer in 2 s)",
        labels: [["node", node]],
        value: { _tag: "gauge", value: ok ? 1 : 0 }
      })
    )
    return [...own, ...scrapes, ...answers.flatMap((a) => a.samples)]
  })

/** The same in the exposition format. */
export const exposition = (nodes: ReadonlyArray<string>, fetch: Fetch): Effect.Effect<string> =>
  Effect.map(gather(nodes, fetch), Prometheus.render)
