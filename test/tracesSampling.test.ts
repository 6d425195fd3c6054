/**
 * The head sampler (`telemetry.sampleRatio`, env OTEL_TRACES_SAMPLER): the decision is made once
 * at a trace's root and every hop follows it. On the demo's three nodes (net → gate → game1):
 * ratio 0 makes no span on any node (nor at a real OTLP collector), ratio 1 the whole tree, 0.5
 * under a seeded `Random` a whole tree or nothing per request. Also: an unsampled span's context
 * crosses a link as `[traceId, spanId, false]`, a handler's own `Effect.withSpan` under it is not
 * recorded, and the config key and the env variables are checked.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Either, Option, Random } from "effect"
import type * as Tracer from "effect/Tracer"
import { PCGRandom } from "effect/Utils"
import { NetHandle100, NetHandle300 } from "../examples/demo/app/protocol.js"
import * as HotaruConfig from "../src/HotaruConfig.js"
import * as Env from "../src/internal/config/env.js"
import * as Sampler from "../src/internal/observe/sampler.js"
import * as Tracing from "../src/internal/observe/tracing.js"
import * as Telemetry from "../src/Telemetry.js"
import { TestCluster } from "../src/testing.js"
import { collector } from "./support/otlp.js"

const configFile = new URL("../examples/demo/config.json", import.meta.url).pathname
const dir = Path.dirname(configFile)
const demo = (telemetry: Record<string, unknown>): Record<string, unknown> => ({
  ...JSON.parse(Fs.readFileSync(configFile, "utf8")),
  telemetry
})

type Span = Telemetry.MemorySpan
const parentId = (span: Span): string | undefined =>
  Option.match(span.parent, { onNone: () => undefined, onSome: (p: Tracer.AnySpan) => p.spanId })

/** The demo's five spans of one NetHandle300, checked as one whole tree. */
const expectWholeTree = (spans: ReadonlyArray<Span>) => {
  const byName = new Map(spans.map((s) => [s.name, s]))
  expect([...byName.keys()].sort()).toEqual([
    "hotaru.call game1Handle",
    "hotaru.call gateHandle2",
    "hotaru.command netHandle_300",
    "hotaru.serve game1Handle",
    "hotaru.serve gateHandle2"
  ])
  expect(spans).toHaveLength(5)
  const get = (name: string) => byName.get(name)!
  expect(get("hotaru.command netHandle_300").parent).toEqual(Option.none())
  expect(parentId(get("hotaru.call gateHandle2"))).toBe(get("hotaru.command netHandle_300").spanId)
  expect(parentId(get("hotaru.serve gateHandle2"))).toBe(get("hotaru.call gateHandle2").spanId)
  expect(parentId(get("hotaru.call game1Handle"))).toBe(get("hotaru.serve gateHandle2").spanId)
  expect(parentId(get("hotaru.serve game1Handle"))).toBe(get("hotaru.call game1Handle").spanId)
  for (const span of spans) expect(span.status._tag).toBe("Ended")
}

describe.each(["memory", "tcp"] as const)("the head sampler on the %s transport", (transport) => {
  const run = transport === "memory" ? it.scoped : it.scopedLive

  run("sampleRatio 0: no span on any of the three nodes", () =>
    Effect.gen(function* () {
      const traces = yield* Telemetry.MemoryTraces
      const cluster = yield* TestCluster.make({
        config: demo({ traces: true, sampleRatio: 0 }),
        dir,
        transport
      })
      yield* cluster.awaitLinks
      const client = yield* cluster.client("net")
      yield* traces.clear
      for (let i = 0; i < 10; i++) {
        expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
        expect(yield* client.call(NetHandle100, "msgdata")).toBe("netHandle_100 completed")
      }
      expect((yield* traces.spans).map((s) => s.name)).toEqual([])
    }).pipe(Effect.provide(Telemetry.layerMemory))
  )

  run("sampleRatio 1: the whole tree", () =>
    Effect.gen(function* () {
      const traces = yield* Telemetry.MemoryTraces
      const cluster = yield* TestCluster.make({
        config: demo({ traces: true, sampleRatio: 1 }),
        dir,
        transport
      })
      yield* cluster.awaitLinks
      const client = yield* cluster.client("net")
      yield* traces.clear
      expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
      expectWholeTree(yield* traces.spans)
    }).pipe(Effect.provide(Telemetry.layerMemory))
  )

  run("sampleRatio 0.5 under a seeded Random: per request the whole tree or nothing", () =>
    Effect.gen(function* () {
      const traces = yield* Telemetry.MemoryTraces
      const cluster = yield* TestCluster.make({
        config: demo({ traces: true, sampleRatio: 0.5 }),
        dir,
        transport
      }).pipe(Effect.withRandom(Random.make(20)))
      yield* cluster.awaitLinks
      const client = yield* cluster.client("net")
      const requests = 40
      let kept = 0
      for (let i = 0; i < requests; i++) {
        yield* traces.clear
        expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
        const spans = yield* traces.spans
        if (spans.length === 0) continue
        kept++
        // never a child without its parent: all five, one trace
        expectWholeTree(spans)
        expect(new Set(spans.map((s) => s.traceId)).size).toBe(1)
      }
      // some of each (the seed fixes which)
      expect(kept).toBeGreaterThan(requests * 0.2)
      expect(kept).toBeLessThan(requests * 0.8)
    }).pipe(Effect.provide(Telemetry.layerMemory))
  )
})

describe("an unsampled trace", () => {
  it.effect(
    "its span has valid ids and goes on the wire as unsampled; what is under it is not recorded",
    () =>
      Effect.gen(function* () {
        const { telemetry, traces } = yield* Telemetry.makeMemory()
        const tracer = Sampler.sampling(telemetry.tracer, 0, new PCGRandom(1))
        const tracing = { node: "net", tracer, clock: yield* Effect.clock }
        const root = Tracing.start(tracing, "hotaru.command x", "server", undefined)
        expect(root.sampled).toBe(false)
        const wire = Tracing.toWire(root)
        expect(wire[2]).toBe(false)
        // the callee takes it (valid ids) and follows it
        const remote = Tracing.fromWire(wire)
        expect(remote).toMatchObject({ traceId: root.traceId, spanId: root.spanId, sampled: false })
        // a callee that keeps every trace of its own still follows its caller's decision
        const callee = Sampler.sampling(telemetry.tracer, 1, new PCGRandom(2))
        const served = Tracing.start({ ...tracing, tracer: callee }, "hotaru.serve x", "server", remote)
        expect(served.sampled).toBe(false)
        // a handler's own spans under it: not recorded either
        yield* Effect.void.pipe(Effect.withSpan("handler"), Effect.withSpan("inner"), (e) =>
          Tracing.within({ ...tracing, tracer: callee }, served, e)
        )
        Tracing.end(tracing, served, { _tag: "Success", value: undefined } as never)
        expect(yield* traces.spans).toEqual([])
        // a sampled parent: recorded
        const sampled = Sampler.sampling(telemetry.tracer, 0, new PCGRandom(3))
        const outer = telemetry.tracer.span("outer", Option.none(), Context.empty(), [], 0n, "internal")
        yield* Effect.withSpan(Effect.void, "child").pipe(
          Effect.withParentSpan(outer),
          Effect.withTracer(sampled)
        )
        expect((yield* traces.spans).map((s) => s.name)).toEqual(["outer", "child"])
      })
  )
})

/** A collector for the test's scope. */
const scopedCollector = Effect.acquireRelease(Effect.promise(collector), (c) => Effect.promise(c.close))

describe("sampleRatio 0 with OTLP export", () => {
  it.scopedLive("nothing reaches the collector from any node", () =>
    Effect.gen(function* () {
      const otlp = yield* scopedCollector
      const config = demo({ traces: true, otlp: `${otlp.url}/v1/traces`, sampleRatio: 0 })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* TestCluster.make({ config, dir, transport: "tcp" })
          yield* cluster.awaitLinks
          const client = yield* cluster.client("net")
          for (let i = 0; i < 5; i++) {
            expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
          }
        })
      )
      const names = otlp.bodies.flatMap((b) =>
        b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((span) => span.name)))
      )
      expect(names.filter((n) => n.startsWith("hotaru."))).toEqual([])
    }).pipe(Effect.timeout("30 seconds"))
  )
})

describe("the sampler's config", () => {
  it("telemetry.sampleRatio is a number 0..1", () => {
    const decode = (sampleRatio: unknown) =>
      HotaruConfig.decode("c.json", {
        servers: { a: { netport: 1 } },
        telemetry: { traces: true, sampleRatio }
      })
    expect(Either.isRight(decode(0))).toBe(true)
    expect(Either.isRight(decode(0.25))).toBe(true)
    expect(Either.isRight(decode(1))).toBe(true)
    for (const bad of [1.5, -0.1, "0.5"]) {
      expect(Either.getLeft(decode(bad)).pipe(Option.map((e) => e.issues))).toEqual(
        Option.some([`telemetry.sampleRatio: expected a number from 0 to 1, got ${JSON.stringify(bad)}`])
      )
    }
  })

  it.effect("OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, read through Effect Config", () =>
    Effect.gen(function* () {
      const read = (env: Record<string, string>) =>
        Effect.either(
          Effect.withConfigProvider(Env.sampleRatio, ConfigProvider.fromMap(new Map(Object.entries(env))))
        )
      expect(yield* read({})).toEqual(Either.right(Option.none()))
      expect(yield* read({ OTEL_TRACES_SAMPLER_ARG: "0.5" })).toEqual(Either.right(Option.none()))
      expect(yield* read({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" })).toEqual(
        Either.right(Option.some(0.25))
      )
      expect(
        yield* read({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0" })
      ).toEqual(Either.right(Option.some(0)))
      expect(yield* read({ OTEL_TRACES_SAMPLER: "traceidratio" })).toEqual(Either.right(Option.some(1)))
      expect(yield* read({ OTEL_TRACES_SAMPLER: "always_off" })).toEqual(Either.right(Option.some(0)))
      expect(yield* read({ OTEL_TRACES_SAMPLER: "parentbased_always_on" })).toEqual(
        Either.right(Option.some(1))
      )
      const failure = (env: Record<string, string>) =>
        Effect.map(read(env), (e) =>
          Either.getLeft(e).pipe(
            Option.map(String),
            Option.getOrElse(() => "")
          )
        )
      expect(yield* failure({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" })).toContain(
        'Invalid data at OTEL_TRACES_SAMPLER_ARG: "expected a number from 0 to 1, got "2""'
      )
      expect(
        yield* failure({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "half" })
      ).toContain("OTEL_TRACES_SAMPLER_ARG")
      expect(yield* failure({ OTEL_TRACES_SAMPLER: "jaeger_remote" })).toContain(
        'unsupported sampler "jaeger_remote"'
      )
    })
  )
})
