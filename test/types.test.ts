/**
 * Type-level checks of the node clients: `tsc` over test/ fails if a
 * `@ts-expect-error` line below compiles, i.e. if a mistyped call were accepted.
 */
import { Rpc, RpcGroup } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { NodeUnavailable } from "../src/NodeError.js"
import { Remote } from "../src/Remote.js"
import { Root } from "../src/Root.js"
import { Transport } from "../src/Transport.js"

class GateRoot extends RpcGroup.make(
  Rpc.make("gateHandle1", { payload: Schema.String, success: Schema.String }),
  Rpc.make("gateHandle2", { payload: Schema.String, success: Schema.String, error: NodeUnavailable })
) {}

class Game1Remote extends RpcGroup.make(
  Rpc.make("game1Handle", { payload: Schema.String, success: Schema.String })
) {}

/** Compile-time only: never run. */
const typeChecks = Effect.gen(function* () {
  const root = yield* Root
  const remote = yield* Remote
  const game1 = yield* root.child("game1", Game1Remote)
  const gate = yield* remote.parent("gate", GateRoot)

  // well-typed calls: success and error types flow through
  const a: Effect.Effect<string, NodeUnavailable> = game1.game1Handle("x")
  const b: Effect.Effect<string, NodeUnavailable> = gate.gateHandle1("x")
  const c: Effect.Effect<string, NodeUnavailable> = gate.gateHandle2("x")

  // @ts-expect-error the payload of game1Handle is a string
  game1.game1Handle(42)
  // @ts-expect-error the payload of gateHandle1 is a string
  gate.gateHandle1({ data: "x" })
  // @ts-expect-error game1Handle is not part of the gate's group
  gate.game1Handle("x")
  // @ts-expect-error the success is a string, not a number
  const d: Effect.Effect<number, NodeUnavailable> = gate.gateHandle1("x")
  // @ts-expect-error a failure is NodeUnavailable, not never
  const e: Effect.Effect<string> = game1.game1Handle("x")

  return [a, b, c, d, e]
})

describe("types", () => {
  it("the compile-time checks above are an Effect (never run)", () => {
    expect(Effect.isEffect(typeChecks)).toBe(true)
  })

  it.scoped("typed clients carry the group's payload and success types at run time too", () =>
    Effect.gen(function* () {
      const ctx = yield* Layer.build(
        Root.serve(
          GateRoot,
          GateRoot.toLayer({
            gateHandle1: (data) => Effect.succeed(`gate:${data.length}`),
            gateHandle2: (data) => Effect.fail(new NodeUnavailable({ node: data, reason: "NotConnected" }))
          })
        ).pipe(Layer.provideMerge(Root.layer({ name: "gate", host: "127.0.0.1", port: 0 })))
      )
      const root = Context.get(ctx, Root)
      const net = Context.get(
        yield* Layer.build(Remote.layer({ name: "net", parents: [{ name: "gate", ...root.address }] })),
        Remote
      )
      yield* net.awaitConnected("gate")
      const gate = yield* net.parent("gate", GateRoot)
      const length: string = yield* gate.gateHandle1("four")
      expect(length).toBe("gate:4")
      const error: NodeUnavailable = yield* Effect.flip(gate.gateHandle2("game1"))
      expect(error).toEqual(new NodeUnavailable({ node: "game1", reason: "NotConnected" }))
    }).pipe(Effect.provide(Transport.layerMemory))
  )
})
