/**
 * Hostile suite, span contexts: a span context in a link frame comes from another process. A
 * rogue peer's forged contexts (fast call frames and stock requests) are ignored: the served
 * call's span starts a trace of its own; a valid one is continued (an unsampled one: no span). And a traced child's stream
 * call (the stock frames) is one trace with its parent's serving span.
 */
import { Rpc, RpcGroup } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Schema, Stream } from "effect"
import type * as Tracer from "effect/Tracer"
import { channelKey } from "../../src/internal/rpc/rpcWire.js"
import * as Remote from "../../src/Remote.js"
import * as Root from "../../src/Root.js"
import * as Telemetry from "../../src/Telemetry.js"
import * as Transport from "../../src/Transport.js"
import { rawJoin } from "./linkPeer.js"

const SECRET = "correct horse battery staple"

const parentId = (span: Telemetry.MemorySpan): string | undefined =>
  Option.match(span.parent, { onNone: () => undefined, onSome: (p: Tracer.AnySpan) => p.spanId })

/** What Node.layer gives a traced node (`Telemetry.layerNode`), its spans to `tracer`. */
const traced = (node: string, tracer: Tracer.Tracer) =>
  Telemetry.layerNode(node).pipe(Layer.provide(Layer.succeed(Telemetry.Telemetry, { tracer })))

class Echo extends RpcGroup.make(
  Rpc.make("echo", { payload: { n: Schema.Number }, success: Schema.Number }),
  Rpc.make("count", { payload: { n: Schema.Number }, success: Schema.Number, stream: true })
) {}

describe("a span context from a link is hostile input", () => {
  it.scopedLive("garbage in a call frame's trace slot is ignored: the serve span is a root", () =>
    Effect.gen(function* () {
      const { telemetry, traces } = yield* Telemetry.makeMemory()
      const context = yield* Layer.build(
        Root.serve(
          Echo,
          Echo.toLayer({ echo: ({ n }) => Effect.succeed(n), count: ({ n }) => Stream.make(n) })
        ).pipe(
          Layer.provideMerge(Root.layer({ name: "gate", host: "127.0.0.1", port: 0, secret: SECRET })),
          Layer.provide(traced("gate", telemetry.tracer))
        )
      )
      const root = Context.get(context, Root.Root)
      const { answer, peer } = yield* Effect.promise(() =>
        rawJoin(root.address.port, "game1", "gate", SECRET)
      )
      expect(answer).toEqual([5, "gate"])
      const { key } = channelKey(Echo)
      /** The next frame that is not a heartbeat (pings answered). */
      const reply = async (): Promise<unknown> => {
        for (;;) {
          const frame = await peer.next()
          if (!Array.isArray(frame) || frame[0] !== 2) return frame
          peer.send([3])
        }
      }
      const valid = ["0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", true]
      const forged: ReadonlyArray<unknown> = [
        ["0AF7651916CD43DD8448EB211C80319C", "B7AD6B7169203331", true], // upper case
        ["0af7651916cd43dd8448eb211c80319", "b7ad6b7169203331", true], // 31 digits
        ["0af7651916cd43dd8448eb211c80319c", "b7ad6b716920333", true], // 15 digits
        ["0af7651916cd43dd8448eb211c80319z", "b7ad6b7169203331", true], // not hex
        ["00000000000000000000000000000000", "b7ad6b7169203331", true], // invalid (zero) trace
        ["0af7651916cd43dd8448eb211c80319c", "0000000000000000", true], // invalid (zero) span
        ["0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "yes"], // not a boolean
        ["0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"], // too short
        [...valid, "more"], // too long
        "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        { traceId: valid[0], spanId: valid[1], sampled: true },
        ["x".repeat(100_000), "b7ad6b7169203331", true],
        42
      ]
      for (let i = 0; i < forged.length; i++) {
        peer.send([7, key, i + 1, "echo", { n: i + 1 }, null, forged[i]])
        expect(yield* Effect.promise(reply)).toEqual([8, i + 1, i + 1])
      }
      peer.send([7, key, 100, "echo", { n: 100 }, null, valid])
      expect(yield* Effect.promise(reply)).toEqual([8, 100, 100])

      const spans = yield* traces.spans
      expect(spans).toHaveLength(forged.length + 1)
      for (const span of spans.slice(0, forged.length)) {
        expect(span.name).toBe("hotaru.serve echo")
        expect(span.parent).toEqual(Option.none())
        expect(span.traceId).not.toBe(valid[0])
      }
      // a valid one is taken: the serve span continues the caller's trace
      const last = spans[forged.length]!
      expect(last.traceId).toBe(valid[0])
      expect(parentId(last)).toBe(valid[1])

      // a valid context the caller did not sample: followed, so the served call makes no span
      yield* traces.clear
      peer.send([7, key, 101, "echo", { n: 101 }, null, [valid[0], valid[1], false]])
      expect(yield* Effect.promise(reply)).toEqual([8, 101, 101])
      expect(yield* traces.spans).toEqual([])

      // the stock frames (a stream rpc): the request's traceId / spanId / sampled, checked the same
      yield* traces.clear
      const stock = (id: string, context: unknown) => {
        const [traceId, spanId, sampled] = Array.isArray(context) ? context : [context, context, true]
        peer.send([
          0,
          key,
          { _tag: "Request", id, tag: "count", payload: { n: 7 }, headers: [], traceId, spanId, sampled }
        ])
      }
      const exitOf = async (id: string): Promise<unknown> => {
        for (;;) {
          const frame = (await reply()) as [
            number,
            number,
            { _tag: string; requestId?: string; exit?: unknown }
          ]
          if (frame[0] === 1 && frame[2]._tag === "Exit" && frame[2].requestId === id) return frame[2].exit
        }
      }
      // (the stock request has three fields, not one slot: a longer list is not a case here)
      const forgedStock = forged.filter((f) => !(Array.isArray(f) && f.length > 3))
      for (let i = 0; i < forgedStock.length; i++) {
        stock(String(i + 1), forgedStock[i])
        expect(yield* Effect.promise(() => exitOf(String(i + 1)))).toMatchObject({ _tag: "Success" })
      }
      stock("100", valid)
      expect(yield* Effect.promise(() => exitOf("100"))).toMatchObject({ _tag: "Success" })
      const served = (yield* traces.spans).filter((s) => s.name === "hotaru.serve.count")
      expect(served).toHaveLength(forgedStock.length + 1)
      for (const span of served.slice(0, forgedStock.length)) {
        expect(span.parent).toEqual(Option.none())
        expect(span.traceId).not.toBe(valid[0])
      }
      expect(served[forgedStock.length]!.traceId).toBe(valid[0])
      expect(parentId(served[forgedStock.length]!)).toBe(valid[1])
      // unsampled: followed there too
      yield* traces.clear
      stock("101", [valid[0], valid[1], false])
      expect(yield* Effect.promise(() => exitOf("101"))).toMatchObject({ _tag: "Success" })
      expect(yield* traces.spans).toEqual([])
      peer.destroy()
    }).pipe(Effect.provide(Transport.layerTcp()), Effect.timeout("20 seconds"))
  )
})

describe("stock frames between traced nodes", () => {
  it.scopedLive("a child's stream call under a span: call and serve spans of @effect/rpc, one trace", () =>
    Effect.gen(function* () {
      const { telemetry, traces } = yield* Telemetry.makeMemory()
      const gate = Context.get(
        yield* Layer.build(
          Root.serve(
            Echo,
            Echo.toLayer({ echo: ({ n }) => Effect.succeed(n), count: ({ n }) => Stream.make(n, n + 1) })
          ).pipe(
            Layer.provideMerge(Root.layer({ name: "gate", host: "127.0.0.1", port: 0, secret: SECRET })),
            Layer.provide(traced("gate", telemetry.tracer))
          )
        ),
        Root.Root
      )
      const game1 = Context.get(
        yield* Layer.build(
          Remote.layer({
            name: "game1",
            parents: [{ name: "gate", host: "127.0.0.1", port: gate.address.port }],
            secret: SECRET
          }).pipe(Layer.provide(traced("game1", telemetry.tracer)))
        ),
        Remote.Remote
      )
      yield* game1.awaitConnected("gate")
      const echo = yield* game1.parent("gate", Echo)
      yield* traces.clear
      const outer = telemetry.tracer.span("outer", Option.none(), Context.empty(), [], 0n, "internal")
      const values = yield* echo.count({ n: 3 }).pipe(Stream.runCollect, Effect.withParentSpan(outer))
      expect([...values]).toEqual([3, 4])
      const spans = (yield* traces.spans).filter((s) => s.traceId === outer.traceId)
      const call = spans.find((s) => s.name === "hotaru.call.count")!
      const serve = spans.find((s) => s.name === "hotaru.serve.count")!
      expect(parentId(call)).toBe(outer.spanId)
      expect(parentId(serve)).toBe(call.spanId)
      expect(Object.fromEntries(call.attributes)).toMatchObject({
        "hotaru.node": "game1",
        "hotaru.peer": "gate"
      })
      expect(Object.fromEntries(serve.attributes)).toMatchObject({ "hotaru.node": "gate" })
    }).pipe(Effect.provide(Transport.layerTcp()), Effect.timeout("20 seconds"))
  )
})

describe("the master's link is not traced", () => {
  it.scopedLive("a traced node serving its master (admin: status, metrics every second) makes no span", () =>
    Effect.gen(function* () {
      const { telemetry, traces } = yield* Telemetry.makeMemory()
      const master = Context.get(
        yield* Layer.build(Root.layer({ name: "master", host: "127.0.0.1", port: 0, secret: SECRET })),
        Root.Root
      )
      const node = yield* Layer.build(
        Remote.serve(
          "master",
          Echo,
          Echo.toLayer({ echo: ({ n }) => Effect.succeed(n), count: ({ n }) => Stream.make(n) })
        ).pipe(
          Layer.provideMerge(
            Remote.layer({
              name: "game1",
              parents: [{ name: "master", host: "127.0.0.1", port: master.address.port }],
              secret: SECRET
            })
          ),
          Layer.provide(traced("game1", telemetry.tracer))
        )
      )
      yield* Context.get(node, Remote.Remote).awaitConnected("master")
      yield* master.awaitChild("game1")
      const game1 = yield* master.child("game1", Echo)
      expect(yield* game1.echo({ n: 1 })).toBe(1)
      expect([...(yield* Stream.runCollect(game1.count({ n: 2 })))]).toEqual([2])
      expect(yield* traces.spans).toEqual([])
    }).pipe(Effect.provide(Transport.layerTcp()), Effect.timeout("20 seconds"))
  )
})
