/**
 * Traces of entity messages: a traced front's client command calls an entity on a traced runner;
 * @effect/cluster's own spans (its client's and the runner's) land in the nodes' tracer, in the
 * command's trace.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Entity } from "@effect/cluster"
import { Rpc } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import type * as Tracer from "effect/Tracer"
import * as EntitySharding from "../src/EntitySharding.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetServer from "../src/NetServer.js"
import * as Telemetry from "../src/Telemetry.js"
import { TestCluster } from "../src/testing.js"
import { freePort } from "./support/ports.js"
import { uniqueName } from "./support/services.js"

const Counter = Entity.make("Counter", [Rpc.make("Add", { payload: { n: Schema.Int }, success: Schema.Int })])

const counterHandlers = Counter.toLayer(
  Effect.sync(() => {
    let total = 0
    return { Add: ({ payload }) => Effect.sync(() => (total += payload.n)) }
  })
)

const Add = NetCommand.json(400, { name: "add", request: Schema.Int, response: Schema.Int })

const front = NetServer.handle(Add, (n) =>
  Effect.flatMap(Counter.client, (counter) => EntitySharding.orDieCluster(counter("a").Add({ n })))
)

const parentId = (span: Telemetry.MemorySpan): string | undefined =>
  Option.match(span.parent, { onNone: () => undefined, onSome: (p: Tracer.AnySpan) => p.spanId })

describe("entity message traces", () => {
  it.scopedLive("front command → @effect/cluster client → runner: one trace", () =>
    Effect.gen(function* () {
      const traces = yield* Telemetry.MemoryTraces
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-traces-"))
      const port = yield* Effect.promise(freePort)
      const cluster = yield* TestCluster.make({
        config: {
          servers: { front: { netport: 10031, entities: true }, runner: { runnerport: port } },
          db: { driver: "sqlite", filename: Path.join(dir, "cluster.sqlite") },
          sharding: { prefix: uniqueName("tr"), shardsPerGroup: 6, refreshAssignmentsInterval: 0.2 },
          telemetry: { traces: true }
        },
        dir,
        apps: { front, runner: counterHandlers }
      })
      const client = yield* cluster.client("front")
      // the first call waits for the shards to be assigned
      expect(yield* client.call(Add, 1).pipe(Effect.timeout("30 seconds"))).toBe(1)
      yield* traces.clear
      expect(yield* client.call(Add, 2)).toBe(3)
      const all = yield* traces.spans
      const root = all.find((s) => s.name === "hotaru.command add")
      expect(root).toBeDefined()
      // (the cluster's background work may make spans of its own meanwhile: the command's trace only)
      const spans = all.filter((s) => s.traceId === root!.traceId)
      expect(spans.map((s) => s.name)).toEqual(["hotaru.command add", "Counter.client.Add", "Counter(a).Add"])
      const [command, call, served] = spans as [
        Telemetry.MemorySpan,
        Telemetry.MemorySpan,
        Telemetry.MemorySpan
      ]
      expect(command.parent).toEqual(Option.none())
      expect(parentId(call)).toBe(command.spanId)
      // the runner's span continues the trace from the message's envelope
      expect(parentId(served)).toBe(call.spanId)
      expect(Object.fromEntries(served.attributes)).toMatchObject({
        "entity.type": "Counter",
        "entity.id": "a"
      })
      for (const span of spans) {
        expect(span.traceId).toBe(command.traceId)
        expect(span.status._tag).toBe("Ended")
      }
    }).pipe(Effect.provide(Telemetry.layerMemory), Effect.timeout("60 seconds"))
  )
})
