/**
 * Traces across nodes: the demo's three nodes (client → net → gate → game1) with traces on make
 * one trace whose spans nest hop by hop, recorded by an in-memory `Telemetry`; with traces off
 * they make none; a forwarding handler's fiber-less call; repository flush spans; the export to a
 * real OTLP/HTTP endpoint. (Forged span contexts: `hostile/traceContext.test.ts`; entity messages:
 * `tracesEntity.test.ts`.)
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Layer, Logger, Option, Schema, Stream } from "effect"
import type * as Tracer from "effect/Tracer"
import { GateService, NetHandle100, NetHandle300 } from "../examples/demo/app/protocol.js"
import * as Db from "../src/Db.js"
import * as HotaruConfig from "../src/HotaruConfig.js"
import * as Env from "../src/internal/config/env.js"
import * as Tracing from "../src/internal/observe/tracing.js"
import { NodeTracing } from "../src/internal/observe/tracing.js"
import * as Log from "../src/Log.js"
import * as Mem from "../src/Mem.js"
import * as NetServer from "../src/NetServer.js"
import * as Remote from "../src/Remote.js"
import * as Repository from "../src/Repository.js"
import * as Telemetry from "../src/Telemetry.js"
import { TestCluster } from "../src/testing.js"
import { collector } from "./support/otlp.js"

const configFile = new URL("../examples/demo/config.json", import.meta.url).pathname
type DemoConfig = Record<string, unknown> & {
  telemetry?: { traces?: boolean; otlp?: string; serviceName?: string }
  servers: Record<string, { traces?: boolean }>
}
const demo = (edit: (config: DemoConfig) => void): DemoConfig => {
  const config = JSON.parse(Fs.readFileSync(configFile, "utf8"))
  edit(config)
  return config
}

type Span = Telemetry.MemorySpan

const parentId = (span: Span): string | undefined =>
  Option.match(span.parent, { onNone: () => undefined, onSome: (p: Tracer.AnySpan) => p.spanId })

const only = (spans: ReadonlyArray<Span>, name: string): Span => {
  const found = spans.filter((s) => s.name === name)
  expect(found.map((s) => s.name)).toEqual([name])
  return found[0]!
}

const ended = (span: Span) => span.status._tag === "Ended"

describe.each(["memory", "tcp"] as const)("traces on the %s transport", (transport) => {
  const run = transport === "memory" ? it.scoped : it.scopedLive
  const logged: Array<string> = []

  run("one client command is one trace: command → call → serve → call → serve", () =>
    Effect.gen(function* () {
      const traces = yield* Telemetry.MemoryTraces
      const config = demo((c) => {
        c.telemetry = { traces: true }
      })
      const cluster = yield* TestCluster.make({ config, dir: Path.dirname(configFile), transport })
      yield* cluster.awaitLinks
      const client = yield* cluster.client("net")
      yield* traces.clear
      expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
      const spans = yield* traces.spans

      const command = only(spans, "hotaru.command netHandle_300")
      const netCall = only(spans, "hotaru.call gateHandle2")
      const gateServe = only(spans, "hotaru.serve gateHandle2")
      const gateCall = only(spans, "hotaru.call game1Handle")
      const game1Serve = only(spans, "hotaru.serve game1Handle")
      expect(spans).toHaveLength(5)

      // the command is the root; each hop is the child of the one before
      expect(command.parent).toEqual(Option.none())
      expect(parentId(netCall)).toBe(command.spanId)
      expect(parentId(gateServe)).toBe(netCall.spanId)
      expect(parentId(gateCall)).toBe(gateServe.spanId)
      expect(parentId(game1Serve)).toBe(gateCall.spanId)
      for (const span of spans) {
        expect(span.traceId).toBe(command.traceId)
        expect(ended(span)).toBe(true)
        expect(span.attributes.get("hotaru.outcome")).toBe("success")
      }
      expect(command.traceId).toMatch(/^[0-9a-f]{32}$/)

      expect(command.kind).toBe("server")
      expect(Object.fromEntries(command.attributes)).toMatchObject({
        "hotaru.node": "net",
        "hotaru.command.id": 300,
        "hotaru.command.name": "netHandle_300"
      })
      expect(netCall.kind).toBe("client")
      expect(Object.fromEntries(netCall.attributes)).toMatchObject({
        "hotaru.node": "net",
        "hotaru.peer": "gate",
        "hotaru.rpc": "gateHandle2"
      })
      expect(gateServe.kind).toBe("server")
      expect(Object.fromEntries(gateServe.attributes)).toMatchObject({
        "hotaru.node": "gate",
        "hotaru.peer": "net",
        "hotaru.rpc": "gateHandle2"
      })
      expect(Object.fromEntries(gateCall.attributes)).toMatchObject({
        "hotaru.node": "gate",
        "hotaru.peer": "game1"
      })
      expect(Object.fromEntries(game1Serve.attributes)).toMatchObject({
        "hotaru.node": "game1",
        "hotaru.peer": "gate",
        "hotaru.rpc": "game1Handle"
      })

      // the handlers' JSON log lines carry the trace: each hop's line, its hop's span
      const lines = logged.map(
        (line) => JSON.parse(line) as { message: string; traceId?: string; spanId?: string }
      )
      const line = (text: string) => lines.find((l) => l.message.startsWith(text))
      expect(line("netHandle_300: msgdata")).toMatchObject({
        traceId: command.traceId,
        spanId: command.spanId
      })
      expect(line("gateHandle2: msgdata")).toMatchObject({
        traceId: command.traceId,
        spanId: gateServe.spanId
      })
      expect(line("game1Handle: msgdata")).toMatchObject({
        traceId: command.traceId,
        spanId: game1Serve.spanId
      })

      // a second command is a trace of its own
      yield* traces.clear
      expect(yield* client.call(NetHandle100, "msgdata")).toBe("netHandle_100 completed")
      const again = yield* traces.spans
      expect(again.map((s) => s.name)).toEqual(["hotaru.command netHandle_100"])
      expect(again[0]!.traceId).not.toBe(command.traceId)
    }).pipe(
      Effect.provide(Telemetry.layerMemory),
      // every log line as JSON (`HOTARU_LOG_FORMAT=json`'s format), kept
      Effect.provide(Logger.add(Logger.make((options) => void logged.push(Log.formatJson(options)))))
    )
  )
})

/** The gate client of the forwarding net app. */
class Gate extends Remote.ParentClient<Gate>()("test/traces/Gate", "gate", GateService) {}

/** A net whose 300 only forwards (started without a fiber: `DirectCall`). */
const forwardingNet = Layer.unwrapEffect(
  Effect.map(Gate, (gate) => NetServer.handle(NetHandle300, (data) => gate.gateHandle2({ data })))
).pipe(Layer.provide(Gate.layer))

describe("traces of a handler that only forwards", () => {
  it.scoped(
    "the call started without a fiber is the command's child; a failed call's outcome is failure",
    () =>
      Effect.gen(function* () {
        const traces = yield* Telemetry.MemoryTraces
        const config = demo((c) => {
          c.telemetry = { traces: true }
        })
        const cluster = yield* TestCluster.make({
          config,
          dir: Path.dirname(configFile),
          apps: { net: forwardingNet }
        })
        yield* cluster.awaitLinks
        const client = yield* cluster.client("net")
        yield* traces.clear
        expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
        const spans = yield* traces.spans
        expect(spans).toHaveLength(5)
        const command = only(spans, "hotaru.command netHandle_300")
        const netCall = only(spans, "hotaru.call gateHandle2")
        expect(parentId(netCall)).toBe(command.spanId)
        expect(parentId(only(spans, "hotaru.serve gateHandle2"))).toBe(netCall.spanId)
        expect(spans.every((s) => s.traceId === command.traceId && ended(s))).toBe(true)

        // gate unreachable: the call fails with NodeUnavailable, and both spans say so
        yield* cluster.block("gate")
        yield* cluster.node("net").use(
          Effect.flatMap(Remote.Remote, (r) =>
            r.changes("gate").pipe(
              Stream.filter((s) => s._tag === "Connecting"),
              Stream.runHead
            )
          )
        )
        yield* traces.clear
        expect(yield* Effect.either(client.call(NetHandle300, "msgdata"))).toMatchObject({
          _tag: "Left",
          left: { tag: "NodeUnavailable" }
        })
        const failed = yield* traces.spans
        expect(failed.map((s) => s.name)).toEqual(["hotaru.command netHandle_300", "hotaru.call gateHandle2"])
        for (const span of failed) {
          expect(ended(span)).toBe(true)
          expect(span.attributes.get("hotaru.outcome")).toBe("failure")
          expect(span.attributes.get("hotaru.error")).toBe("NodeUnavailable")
        }
        expect(parentId(failed[1]!)).toBe(failed[0]!.spanId)
      }).pipe(Effect.provide(Telemetry.layerMemory))
  )
})

describe("traces off", () => {
  it.scoped("no telemetry block: the same calls make no span, not even with Effect's own tracer", () =>
    Effect.gen(function* () {
      const { telemetry, traces } = yield* Telemetry.makeMemory()
      // the recorder is the Telemetry AND the fibers' Effect tracer: any span made anywhere lands here
      yield* Effect.gen(function* () {
        const cluster = yield* TestCluster.make({ config: demo(() => {}), dir: Path.dirname(configFile) })
        yield* cluster.awaitLinks
        const client = yield* cluster.client("net")
        expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
        expect(yield* client.call(NetHandle100, "msgdata")).toBe("netHandle_100 completed")
      }).pipe(Effect.provideService(Telemetry.Telemetry, telemetry), Effect.withTracer(telemetry.tracer))
      expect(yield* traces.spans).toEqual([])
    })
  )

  it.scoped("a server's own `traces: false` wins: gate makes none, game1's serve span starts a trace", () =>
    Effect.gen(function* () {
      const traces = yield* Telemetry.MemoryTraces
      const config = demo((c) => {
        c.telemetry = { traces: true }
        c.servers.gate.traces = false
      })
      const cluster = yield* TestCluster.make({ config, dir: Path.dirname(configFile) })
      yield* cluster.awaitLinks
      const client = yield* cluster.client("net")
      yield* traces.clear
      expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
      const spans = yield* traces.spans
      expect(spans.map((s) => s.name).sort()).toEqual([
        "hotaru.call gateHandle2",
        "hotaru.command netHandle_300",
        "hotaru.serve game1Handle"
      ])
      const serve = only(spans, "hotaru.serve game1Handle")
      expect(serve.parent).toEqual(Option.none())
      expect(serve.traceId).not.toBe(only(spans, "hotaru.command netHandle_300").traceId)
    }).pipe(Effect.provide(Telemetry.layerMemory))
  )
})

/** A collector for the test's scope. */
const scopedCollector = Effect.acquireRelease(Effect.promise(collector), (c) => Effect.promise(c.close))

describe("OTLP export", () => {
  it.scopedLive(
    "telemetry.otlp: each traced node posts its spans to the collector (flushed when it stops)",
    () =>
      Effect.gen(function* () {
        const otlp = yield* scopedCollector
        const config = demo((c) => {
          c.telemetry = { traces: true, otlp: `${otlp.url}/v1/traces`, serviceName: "demo" }
        })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const cluster = yield* TestCluster.make({
              config,
              dir: Path.dirname(configFile),
              transport: "tcp"
            })
            yield* cluster.awaitLinks
            const client = yield* cluster.client("net")
            expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
          })
        )
        const spans = otlp.bodies.flatMap((body) =>
          body.resourceSpans.flatMap((r) => {
            const attributes = Object.fromEntries(r.resource.attributes.map((a) => [a.key, a.value]))
            return r.scopeSpans.flatMap((s) => s.spans.map((span) => ({ ...span, resource: attributes })))
          })
        )
        expect(spans.map((s) => s.name).sort()).toEqual([
          "hotaru.call game1Handle",
          "hotaru.call gateHandle2",
          "hotaru.command netHandle_300",
          "hotaru.serve game1Handle",
          "hotaru.serve gateHandle2"
        ])
        expect(new Set(spans.map((s) => s.traceId)).size).toBe(1)
        const serve = spans.find((s) => s.name === "hotaru.serve game1Handle")!
        expect(serve.resource).toMatchObject({
          "service.name": { stringValue: "demo" },
          "service.instance.id": { stringValue: "game1" }
        })
        expect(serve.parentSpanId).toBe(spans.find((s) => s.name === "hotaru.call game1Handle")!.spanId)
      }).pipe(Effect.timeout("30 seconds"))
  )

  it.effect(
    "the standard env: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces",
    () =>
      Effect.gen(function* () {
        const read = (env: Record<string, string>) =>
          Effect.withConfigProvider(Env.otlpTraces, ConfigProvider.fromMap(new Map(Object.entries(env))))
        expect(yield* read({})).toEqual(Option.none())
        expect(yield* read({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318/" })).toEqual(
          Option.some("http://c:4318/v1/traces")
        )
        expect(
          yield* read({
            OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://t:4318/traces"
          })
        ).toEqual(Option.some("http://t:4318/traces"))
      })
  )
})

const Item = Schema.Struct({ id: Schema.Int, owner: Schema.Int, name: Schema.String })

describe("repository flush spans", () => {
  it.live("a traced node records each flush that wrote (with its table and count), not the idle ones", () =>
    Effect.gen(function* () {
      const { telemetry, traces } = yield* Telemetry.makeMemory()
      const clock = yield* Effect.clock
      const tracing = { node: "game1", tracer: telemetry.tracer, clock }
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE items (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL, name VARCHAR(255) NOT NULL)`
      const repo = yield* Repository.make({
        table: "items",
        schema: Item,
        primaryKey: "id",
        autoIncrement: true,
        foreignKey: "owner",
        flushInterval: "1 hour"
      }).pipe(Effect.provideService(NodeTracing, tracing))
      yield* repo.insert({ owner: 1, name: "ann" })
      yield* repo.insert({ owner: 1, name: "bob" })
      // a flush inside a span is its child
      const outer = Tracing.start(tracing, "outer", "internal", undefined)
      expect((yield* Effect.withParentSpan(repo.flush, outer)).written).toBe(2)
      expect((yield* repo.flush).written).toBe(0)
      const spans = yield* traces.spans
      expect(spans.map((s) => s.name)).toEqual(["outer", "hotaru.flush items"])
      const flush = spans[1]!
      expect(Object.fromEntries(flush.attributes)).toEqual({
        "hotaru.node": "game1",
        "hotaru.table": "items",
        "hotaru.flush.written": 2,
        "hotaru.outcome": "success"
      })
      expect(parentId(flush)).toBe(outer.spanId)
      expect(ended(flush)).toBe(true)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Layer.mergeAll(
          Db.layer({ driver: "sqlite", filename: ":memory:" }),
          Mem.layerMemory({ prefix: "traces:", durability: "accept-loss" })
        )
      )
    )
  )
})

describe("the telemetry config", () => {
  it("decodes the block and a server's traces; a bad URL is one clear issue; an unused exporter a warning", () => {
    const ok = HotaruConfig.decode("c.json", {
      servers: { a: { netport: 1, traces: false } },
      telemetry: { traces: true, otlp: "http://127.0.0.1:4318/v1/traces", serviceName: "demo" }
    })
    expect(Either.isRight(ok)).toBe(true)
    const bad = HotaruConfig.decode("c.json", { servers: {}, telemetry: { traces: "yes", otlp: "ftp://x" } })
    expect(Either.getLeft(bad).pipe(Option.map((e) => e.issues))).toEqual(
      Option.some([
        'telemetry.traces: expected true or false, got "yes"',
        'telemetry.otlp: expected an http(s) URL, got "ftp://x"'
      ])
    )
    const unused = HotaruConfig.decode("c.json", {
      servers: { a: { netport: 1 } },
      telemetry: { otlp: "http://127.0.0.1:4318/v1/traces" }
    })
    expect(Either.map(unused, (l) => HotaruConfig.warningsOf(l))).toEqual(
      Either.right(["telemetry: no node traces (telemetry.traces is not true), so nothing is exported"])
    )
  })
})
