/**
 * Metrics in one process: Effect metrics read into a snapshot and written in the Prometheus
 * text format (checked by a strict parser), and a TestCluster's edge and link metrics moving.
 */

import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric, MetricBoundaries, Ref, Schema, TestClock } from "effect"
import { NetHandle100 } from "../examples/demo/app/protocol.js"
import * as Db from "../src/Db.js"
import { NodeName } from "../src/internal/observe/metrics.js"
import * as NodeMetrics from "../src/internal/observe/nodeMetrics.js"
import * as Prometheus from "../src/internal/observe/prometheus.js"
import * as Snapshot from "../src/internal/observe/snapshot.js"
import * as Mem from "../src/Mem.js"
import * as NodeSupervisor from "../src/NodeSupervisor.js"
import * as Repository from "../src/Repository.js"
import { TestCluster } from "../src/testing.js"
import { parse, sampleValue } from "./support/prometheus.js"

const config = new URL("../examples/demo/config.json", import.meta.url).pathname

describe("metrics exposition", () => {
  it.effect("counters, gauges and histograms, with escaped labels, parse strictly", () =>
    Effect.gen(function* () {
      const requests = Metric.counter("test_expo_requests", { description: "requests\nserved \\ so far" })
      const odd = 'a "quoted" \\ back\nslash'
      yield* Metric.incrementBy(requests.pipe(Metric.tagged("node", "n1"), Metric.tagged("path", odd)), 3)
      yield* Metric.set(Metric.gauge("test_expo_depth").pipe(Metric.tagged("node", "n1")), 7)
      const latency = Metric.histogram(
        "test_expo_seconds",
        MetricBoundaries.linear({ start: 0.1, width: 0.1, count: 3 })
      ).pipe(Metric.tagged("node", "n1"))
      for (const v of [0.05, 0.15, 0.15, 9]) yield* Metric.update(latency, v)

      const samples = Snapshot.forNode(yield* Snapshot.take, "n1", false)
      // the snapshot crosses the admin link: it survives its Schema
      const decoded = yield* Schema.decodeUnknown(Snapshot.Snapshot)(
        yield* Schema.encode(Snapshot.Snapshot)(samples)
      )
      const text = Prometheus.render(decoded)
      const families = parse(text)
      expect(families.get("test_expo_requests_total")).toMatchObject({
        type: "counter",
        help: "requests\\nserved \\\\ so far"
      })
      expect(sampleValue(families, "test_expo_requests_total", { node: "n1", path: odd })).toBe(3)
      expect(sampleValue(families, "test_expo_depth", { node: "n1" })).toBe(7)
      expect(families.get("test_expo_seconds")?.type).toBe("histogram")
      expect(sampleValue(families, "test_expo_seconds_bucket", { le: "0.1" })).toBe(1)
      expect(sampleValue(families, "test_expo_seconds_bucket", { le: "0.2" })).toBe(3)
      expect(sampleValue(families, "test_expo_seconds_bucket", { le: "+Inf" })).toBe(4)
      expect(sampleValue(families, "test_expo_seconds_count")).toBe(4)
      expect(sampleValue(families, "test_expo_seconds_sum")).toBeCloseTo(9.35)
      // another node's samples are not n1's
      expect(Prometheus.render(Snapshot.forNode(yield* Snapshot.take, "n2", false))).not.toContain(
        "test_expo"
      )
    })
  )

  it("the parser refuses what the format does not allow", () => {
    expect(() => parse('x_total{a="1"} 1\n')).toThrow(/family declared before/)
    expect(() => parse("# HELP x_total h\n# TYPE x_total counter\nx_total 1")).toThrow(/newline/)
    expect(() => parse('# HELP x h\n# TYPE x gauge\nx{a="\\t"} 1\n')).toThrow(/bad escape/)
    expect(() => parse("# HELP x h\n# TYPE x counter\nx 1\n")).toThrow(/family declared before/)
    expect(() => parse("# HELP x h\n# TYPE x gauge\nx 1\nx 2\n")).toThrow(/twice/)
    expect(() =>
      parse('# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n')
    ).toThrow(/buckets/)
  })
})

describe("node metrics (TestCluster)", () => {
  it.scoped("N client calls move the edge counter; a cut link shows in the link metrics", () =>
    Effect.gen(function* () {
      const read = (node: string) => Effect.map(NodeMetrics.nodeExposition(node, []), (text) => parse(text))
      const cluster = yield* TestCluster.make({ config })
      yield* cluster.awaitLinks
      const before = sampleValue(yield* read("net"), "hotaru_edge_events_total", { event: "accepted" }) ?? 0
      const n = 4
      for (let i = 0; i < n; i++) {
        yield* Effect.scoped(Effect.flatMap(cluster.client("net"), (c) => c.call(NetHandle100, "x")))
      }
      const net = yield* read("net")
      expect(
        sampleValue(net, "hotaru_edge_events_total", { node: "net", event: "accepted" })
      ).toBeGreaterThanOrEqual(before + n)
      expect(sampleValue(net, "hotaru_link_up", { node: "net", peer: "gate", side: "parent" })).toBe(1)
      expect(
        sampleValue(yield* read("gate"), "hotaru_link_up", { node: "gate", peer: "net", side: "child" })
      ).toBe(1)
      // net's snapshot holds only net's samples
      for (const family of net.values()) for (const s of family.series) expect(s.labels.node).toBe("net")

      yield* cluster.block("gate")
      yield* TestClock.adjust("1 second")
      const cut = yield* Effect.repeat(read("net"), {
        until: (f) => sampleValue(f, "hotaru_link_up", { node: "net", peer: "gate" }) === 0,
        times: 10_000
      })
      expect(
        sampleValue(cut, "hotaru_link_disconnects_total", { node: "net", peer: "gate" })
      ).toBeGreaterThanOrEqual(1)
    })
  )
})

describe("repository metrics", () => {
  it.live("a flush is counted and timed, its rows counted, the queue depth sampled, by node and table", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE metered (id INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL)`
      const repo = yield* Repository.make({
        table: "metered",
        schema: Schema.Struct({ id: Schema.Int, name: Schema.String }),
        primaryKey: "id",
        autoIncrement: true,
        flushInterval: "1 hour"
      })
      for (const name of ["a", "b", "c"]) yield* repo.insert({ name })
      expect((yield* repo.flush).written).toBe(3)
      const families = parse(yield* NodeMetrics.nodeExposition("repo-node", []))
      const labels = { node: "repo-node", table: "metered" }
      expect(sampleValue(families, "hotaru_repository_flushes_total", labels)).toBe(1)
      expect(sampleValue(families, "hotaru_repository_flushed_rows_total", labels)).toBe(3)
      expect(sampleValue(families, "hotaru_repository_pending_writes", labels)).toBe(0)
      expect(sampleValue(families, "hotaru_repository_flush_seconds_count", labels)).toBe(1)
      yield* repo.insert({ name: "d" })
      yield* repo.flush
      const again = parse(yield* NodeMetrics.nodeExposition("repo-node", []))
      expect(sampleValue(again, "hotaru_repository_flushes_total", labels)).toBe(2)
      expect(sampleValue(again, "hotaru_repository_flushed_rows_total", labels)).toBe(4)
    }).pipe(
      Effect.scoped,
      Effect.provideService(NodeName, "repo-node"),
      Effect.provide(
        Layer.mergeAll(
          Db.layer({ driver: "sqlite", filename: ":memory:" }),
          Mem.layerMemory({ prefix: "metered:", durability: "accept-loss" })
        )
      )
    )
  )
})

describe("supervisor metrics", () => {
  it.scoped("a crash, an admin restart (which resets /status's count) and a reset each add one restart", () =>
    Effect.gen(function* () {
      const read = Effect.map(Snapshot.take, (samples) =>
        parse(Prometheus.render(Snapshot.forMaster(samples)))
      )
      const restarts = (f: ReturnType<typeof parse>) =>
        sampleValue(f, "hotaru_supervisor_restarts_total", { node: "metered-child" })
      const sup = yield* NodeSupervisor.make
      const runs = yield* Ref.make(0)
      // the first run crashes, the others run until stopped
      const run = Effect.flatMap(
        Ref.getAndUpdate(runs, (n) => n + 1),
        (n) => (n === 0 ? Effect.fail("boom") : Effect.never)
      )
      yield* sup.start({ name: "metered-child", run, backoff: { base: "100 millis", max: "1 second" } })
      expect(restarts(yield* read)).toBe(0)
      yield* TestClock.adjust("1 second")
      const crashed = yield* read
      expect(restarts(crashed)).toBe(1)
      expect(
        sampleValue(crashed, "hotaru_supervisor_node_state", { node: "metered-child", state: "running" })
      ).toBe(1)
      expect(
        sampleValue(crashed, "hotaru_supervisor_node_state", { node: "metered-child", state: "backoff" })
      ).toBe(0)
      yield* sup.reset("metered-child")
      expect(restarts(yield* read)).toBe(2)
      yield* sup.restart("metered-child")
      expect(restarts(yield* read)).toBe(3)
    })
  )
})
