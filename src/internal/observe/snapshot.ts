/**
 * A metrics snapshot as a document: the process's Effect `Metric` registry read into plain
 * samples (name, help, labels, value), a Schema for it on the wire (the master gets each node's
 * over the admin link), and the filters choosing what belongs to one node or to the master.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { clusterPrefix, masterPrefixes } from "./metrics.js"

const Text = (max: number) => Schema.String.pipe(Schema.maxLength(max))

/** One sample's value, by metric type. Histogram buckets are cumulative `[upper bound, count]`. */
export const SampleValue = Schema.Union(
  Schema.TaggedStruct("counter", { value: Schema.Number }),
  Schema.TaggedStruct("gauge", { value: Schema.Number }),
  Schema.TaggedStruct("histogram", {
    buckets: Schema.Array(Schema.Tuple(Schema.Number, Schema.Number)).pipe(Schema.maxItems(64)),
    count: Schema.Number,
    sum: Schema.Number
  }),
  Schema.TaggedStruct("summary", {
    quantiles: Schema.Array(Schema.Tuple(Schema.Number, Schema.NullOr(Schema.Number))).pipe(
      Schema.maxItems(32)
    ),
    count: Schema.Number,
    sum: Schema.Number
  })
)
export type SampleValue = typeof SampleValue.Type

/** One metric with one set of labels. */
export const Sample = Schema.Struct({
  name: Text(200),
  help: Text(1000),
  labels: Schema.Array(Schema.Tuple(Text(200), Text(1000))).pipe(Schema.maxItems(16)),
  value: SampleValue
})
export type Sample = typeof Sample.Type

/** A node's snapshot as it crosses the admin link (bounded: the master decodes it). */
export const Snapshot = Schema.Array(Sample).pipe(Schema.maxItems(20_000))
export type Snapshot = typeof Snapshot.Type

const toNumber = (n: number | bigint): number => (typeof n === "bigint" ? Number(n) : n)

/** The samples of one registry entry (a frequency becomes one counter per key, label `key`). */
const samplesOf = (pair: MetricPair.MetricPair.Untyped): ReadonlyArray<Sample> => {
  const key = pair.metricKey
  const state: unknown = pair.metricState
  const base = {
    name: key.name,
    help: Option.getOrElse(key.description, () => ""),
    labels: key.tags.map((t) => [t.key, t.value] as const)
  }
  if (MetricState.isCounterState(state)) {
    return [{ ...base, value: { _tag: "counter", value: toNumber(state.count) } }]
  }
  if (MetricState.isGaugeState(state)) {
    return [{ ...base, value: { _tag: "gauge", value: toNumber(state.value) } }]
  }
  if (MetricState.isHistogramState(state)) {
    const { buckets, count, sum } = state
    return [{ ...base, value: { _tag: "histogram", buckets: buckets.slice(0, 64), count, sum } }]
  }
  if (MetricState.isSummaryState(state)) {
    const quantiles = state.quantiles.map(([q, v]) => [q, Option.getOrNull(v)] as const)
    return [{ ...base, value: { _tag: "summary", quantiles, count: state.count, sum: state.sum } }]
  }
  if (MetricState.isFrequencyState(state)) {
    return [...state.occurrences].map(([word, n]) => ({
      ...base,
      labels: [...base.labels, ["key", word] as const],
      value: { _tag: "counter", value: n } as const
    }))
  }
  return []
}

/** Everything in this process's metric registry. */
export const take: Effect.Effect<Snapshot> = Effect.map(Metric.snapshot, (pairs) => pairs.flatMap(samplesOf))

/** The value of label `key` of a sample, if it has it. */
export const labelOf = (sample: Sample, key: string): string | undefined =>
  sample.labels.find(([k]) => k === key)?.[1]

const isMasters = (sample: Sample) => masterPrefixes.some((p) => sample.name.startsWith(p))

/**
 * What belongs to node `node`: the samples tagged with it (but the master's supervision of it);
 * with `cluster`, also the process's `effect_cluster_*` gauges, tagged with the node.
 */
export const forNode = (samples: Snapshot, node: string, cluster: boolean): Snapshot =>
  samples.flatMap((s) => {
    const owner = labelOf(s, "node")
    if (owner === node) return isMasters(s) ? [] : [s]
    if (owner === undefined && cluster && s.name.startsWith(clusterPrefix)) {
      return [{ ...s, labels: [["node", node] as const, ...s.labels] }]
    }
    return []
  })

/** What belongs to the master itself: its supervision of the nodes and its own `master` links. */
export const forMaster = (samples: Snapshot): Snapshot =>
  samples.filter((s) => isMasters(s) || labelOf(s, "node") === "master")
