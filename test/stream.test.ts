/**
 * Streaming results over the inter-node link.
 */
import { Rpc, RpcGroup } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Schema, Stream } from "effect"
import * as Remote from "../src/Remote.js"
import * as Root from "../src/Root.js"
import { TestCluster } from "../src/testing.js"

class Ticker extends RpcGroup.make(
  Rpc.make("count", { payload: { n: Schema.Number }, success: Schema.Number, stream: true })
) {}

const config = {
  servers: {
    gate: { rootport: 4100 },
    game: { remoteport: [{ rootport: 4100, rootname: "gate" }] }
  }
}

const apps = {
  gate: Root.serve(Ticker, Ticker.toLayer({ count: ({ n }) => Stream.range(1, n) })),
  game: Remote.serve("gate", Ticker, Ticker.toLayer({ count: ({ n }) => Stream.range(n, n + 2) }))
}

describe.each(["memory", "tcp"] as const)("stream rpcs on the %s transport", (transport) => {
  const run = transport === "memory" ? it.scoped : it.scopedLive
  run("a child consumes a stream its parent serves, and the parent one its child serves", () =>
    Effect.gen(function* () {
      const cluster = yield* TestCluster.make({ config, apps, transport })
      yield* cluster.awaitLinks
      const up = yield* cluster
        .node("game")
        .use(
          Effect.flatMap(Remote.Remote, (r) =>
            Effect.flatMap(r.parent("gate", Ticker), (gate) => Stream.runCollect(gate.count({ n: 5 })))
          )
        )
      expect(Chunk.toArray(up)).toEqual([1, 2, 3, 4, 5])
      const down = yield* cluster
        .node("gate")
        .use(
          Effect.flatMap(Root.Root, (r) =>
            Effect.flatMap(r.child("game", Ticker), (game) => Stream.runCollect(game.count({ n: 10 })))
          )
        )
      expect(Chunk.toArray(down)).toEqual([10, 11, 12])
    })
  )
})
