import { Rpc, RpcGroup } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { NodeUnavailable } from "../src/NodeError.js"
import * as Remote from "../src/Remote.js"
import * as Root from "../src/Root.js"
import * as Transport from "../src/Transport.js"
import { MemoryNetwork } from "../src/Transport.js"

// --- the seed's demo: gate (Root.Root), game1 and net (Remotes of gate) --------

class GateRoot extends RpcGroup.make(
  Rpc.make("gateHandle1", { payload: Schema.String, success: Schema.String }),
  Rpc.make("gateHandle2", { payload: Schema.String, success: Schema.String, error: NodeUnavailable })
) {}

class Game1Remote extends RpcGroup.make(
  Rpc.make("game1Handle", { payload: Schema.String, success: Schema.String }),
  Rpc.make("game1Block", { payload: Schema.String, success: Schema.String })
) {}

/** Released by tests that need a handler blocked in flight. */
class Gate extends Context.Tag("test/Gate")<
  Gate,
  { readonly started: Deferred.Deferred<void>; readonly release: Deferred.Deferred<void> }
>() {}

const GateHandlers = GateRoot.toLayer(
  Effect.gen(function* () {
    const root = yield* Root.Root
    const game1 = yield* root.child("game1", Game1Remote)
    return {
      gateHandle1: () => Effect.succeed("gateHandle Completed"),
      gateHandle2: (data) => game1.game1Handle(data)
    }
  })
)

const Game1Handlers = Game1Remote.toLayer(
  Effect.gen(function* () {
    const gate = yield* Gate
    return {
      game1Handle: () => Effect.succeed("game1Handle completed"),
      game1Block: (data) =>
        Deferred.succeed(gate.started, undefined).pipe(
          Effect.zipRight(Deferred.await(gate.release)),
          Effect.as(data)
        )
    }
  })
)

const fastHeartbeat = { interval: "1 second", timeout: "3 seconds" } as const

/** Build gate, game1 and net on the Transport.Transport of the environment. */
const cluster = Effect.gen(function* () {
  const gateCtx = yield* Layer.build(
    Root.serve(GateRoot, GateHandlers).pipe(
      Layer.provideMerge(Root.layer({ name: "gate", host: "127.0.0.1", port: 0, heartbeat: fastHeartbeat }))
    )
  )
  const root = Context.get(gateCtx, Root.Root)
  const parents = [{ name: "gate", ...root.address }]
  const started = yield* Deferred.make<void>()
  const release = yield* Deferred.make<void>()
  // game1 lives in its own scope so tests can stop it
  const game1Scope = yield* Scope.make()
  yield* Effect.addFinalizer(() => Scope.close(game1Scope, Exit.void))
  const game1Ctx = yield* Layer.buildWithScope(
    Remote.serve("gate", Game1Remote, Game1Handlers).pipe(
      Layer.provide(Layer.succeed(Gate, { started, release })),
      Layer.provideMerge(Remote.layer({ name: "game1", parents, heartbeat: fastHeartbeat }))
    ),
    game1Scope
  )
  const netCtx = yield* Layer.build(Remote.layer({ name: "net", parents, heartbeat: fastHeartbeat }))
  const game1 = Context.get(game1Ctx, Remote.Remote)
  const net = Context.get(netCtx, Remote.Remote)
  yield* game1.awaitConnected("gate")
  yield* net.awaitConnected("gate")
  yield* root.awaitChild("game1")
  yield* root.awaitChild("net")
  const gate = yield* net.parent("gate", GateRoot)
  return { root, game1, game1Scope, net, gate, started, release }
})

const isUnavailable = (exit: Exit.Exit<unknown, unknown>, reason?: NodeUnavailable["reason"]) =>
  Exit.isFailure(exit) &&
  exit.cause._tag === "Fail" &&
  exit.cause.error instanceof NodeUnavailable &&
  (reason === undefined || exit.cause.error.reason === reason)

const demo = Effect.gen(function* () {
  const { gate, root } = yield* cluster
  expect(yield* gate.gateHandle1("msgdata")).toBe("gateHandle Completed")
  expect(yield* gate.gateHandle2("msgdata")).toBe("game1Handle completed")
  const many = yield* Effect.all(
    Array.from({ length: 200 }, (_, i) => gate.gateHandle2(`m${i}`)),
    { concurrency: "unbounded" }
  )
  expect(many.every((s) => s === "game1Handle completed")).toBe(true)
  expect([...(yield* root.children)].sort()).toEqual(["game1", "net"])
})

/** gate's handler fails typed when game1 is gone; net receives NodeUnavailable(game1) over the wire. */
const typedErrorOverTheWire = Effect.gen(function* () {
  const { game1Scope, gate, root } = yield* cluster
  expect(yield* gate.gateHandle2("x")).toBe("game1Handle completed")
  const left = yield* root.changes.pipe(
    Stream.filter((event) => event._tag === "Left" && event.name === "game1"),
    Stream.runHead,
    Effect.fork
  )
  yield* Effect.yieldNow()
  yield* Scope.close(game1Scope, Exit.void)
  yield* Fiber.join(left)
  const error = yield* Effect.flip(gate.gateHandle2("y"))
  expect(error).toBeInstanceOf(NodeUnavailable)
  expect(error.node).toBe("game1")
  expect(error.reason).toBe("NotConnected")
  expect(error.message).toContain("game1")
  expect(yield* gate.gateHandle1("z")).toBe("gateHandle Completed")
})

/** A call in flight (handler blocked in game1) fails with LinkLost when game1 stops. */
const inFlightLinkLost = Effect.gen(function* () {
  const { game1Scope, root, started } = yield* cluster
  const game1 = yield* root.child("game1", Game1Remote)
  const call = yield* Effect.fork(game1.game1Block("x"))
  yield* Deferred.await(started)
  yield* Scope.close(game1Scope, Exit.void)
  const exit = yield* Fiber.await(call)
  expect(isUnavailable(exit, "LinkLost")).toBe(true)
})

const contract = (name: string, effect: Effect.Effect<void, unknown, Scope.Scope | Transport.Transport>) => {
  describe(name, () => {
    it.scoped("memory transport", () => effect.pipe(Effect.provide(Transport.layerMemory)))
    it.scopedLive("tcp transport", () =>
      effect.pipe(Effect.provide(Transport.layerTcp()), Effect.timeout("10 seconds"))
    )
  })
}

contract("Remote: the seed's demo (net → gate → game1)", demo)
contract("Remote: NodeUnavailable crosses the wire typed", typedErrorOverTheWire)
contract("Remote: a call in flight on a link that drops fails with LinkLost", inFlightLinkLost)

/** Advance the TestClock in small steps so every fiber woken on the way can run. */
const advance = (seconds: number) =>
  Effect.forEach(Array.from({ length: seconds * 4 }), () => TestClock.adjust("250 millis"), { discard: true })

describe("Remote: faults (memory transport, TestClock)", () => {
  it.scoped("a cut link fails calls fast, then comes back by itself after the backoff", () =>
    Effect.gen(function* () {
      const network = yield* MemoryNetwork
      const { gate, net, root } = yield* cluster
      expect(yield* gate.gateHandle1("a")).toBe("gateHandle Completed")

      yield* network.cut(root.address)
      const down = yield* Effect.exit(gate.gateHandle1("b"))
      expect(isUnavailable(down)).toBe(true)
      // the link is seen down; nothing comes back without time passing (backoff uses the clock)
      yield* net.changes("gate").pipe(
        Stream.filter((status) => status._tag === "Connecting"),
        Stream.runHead
      )
      expect((yield* net.status("gate"))._tag).toBe("Connecting")
      expect(isUnavailable(yield* Effect.exit(gate.gateHandle1("c")), "NotConnected")).toBe(true)

      yield* advance(1)
      yield* net.awaitConnected("gate")
      yield* root.awaitChild("game1")
      expect(yield* gate.gateHandle1("d")).toBe("gateHandle Completed")
      expect(yield* gate.gateHandle2("e")).toBe("game1Handle completed")
    }).pipe(Effect.provide(Transport.layerMemory))
  )

  it.scoped("a link cut while a call is in flight fails the call with LinkLost", () =>
    Effect.gen(function* () {
      const network = yield* MemoryNetwork
      const { root, started } = yield* cluster
      const game1 = yield* root.child("game1", Game1Remote)
      const call = yield* Effect.fork(game1.game1Block("x"))
      yield* Deferred.await(started)
      yield* network.cut(root.address)
      const exit = yield* Fiber.await(call)
      expect(isUnavailable(exit, "LinkLost")).toBe(true)
    }).pipe(Effect.provide(Transport.layerMemory))
  )

  it.scoped("callTimeout: a call waits for the link to come back, up to the timeout", () =>
    Effect.gen(function* () {
      const network = yield* MemoryNetwork
      const { root } = yield* cluster
      const patientCtx = yield* Layer.build(
        Remote.layer({
          name: "patient",
          parents: [{ name: "gate", ...root.address }],
          callTimeout: "3 seconds"
        })
      )
      const patient = Context.get(patientCtx, Remote.Remote)
      yield* patient.awaitConnected("gate")
      const gate = yield* patient.parent("gate", GateRoot)
      // down for 1 s: the call waits and succeeds
      yield* network.block(root.address)
      const waiting = yield* Effect.fork(gate.gateHandle1("a"))
      yield* advance(1)
      expect(waiting.unsafePoll()).toBeNull()
      yield* network.unblock(root.address)
      yield* advance(6)
      expect(yield* Fiber.join(waiting)).toBe("gateHandle Completed")
      // down for good: the call fails with Timeout after 3 s
      yield* network.block(root.address)
      const late = yield* Effect.fork(Effect.exit(gate.gateHandle1("b")))
      yield* advance(4)
      expect(isUnavailable(yield* Fiber.join(late), "Timeout")).toBe(true)
    }).pipe(Effect.provide(Transport.layerMemory))
  )

  it.scoped("start order does not matter: a parent that is not up yet is retried", () =>
    Effect.gen(function* () {
      const address = { host: "127.0.0.1", port: 7001 }
      const early = Context.get(
        yield* Layer.build(Remote.layer({ name: "net", parents: [{ name: "gate", ...address }] })),
        Remote.Remote
      )
      const firstFailure = yield* early.changes("gate").pipe(
        Stream.filter((status) => status._tag === "Connecting" && status.lastError !== undefined),
        Stream.runHead
      )
      expect(firstFailure._tag === "Some" && firstFailure.value._tag === "Connecting").toBe(true)
      const root = Context.get(
        yield* Layer.build(
          Root.serve(GateRoot, GateHandlers).pipe(
            Layer.provideMerge(Root.layer({ name: "gate", ...address }))
          )
        ),
        Root.Root
      )
      yield* advance(6)
      yield* early.awaitConnected("gate")
      yield* root.awaitChild("net")
      const gate = yield* early.parent("gate", GateRoot)
      expect(yield* gate.gateHandle1("x")).toBe("gateHandle Completed")
    }).pipe(Effect.provide(Transport.layerMemory))
  )

  it.scoped("a child with two parents serves each only what it serves to that parent", () =>
    Effect.gen(function* () {
      const { root } = yield* cluster
      const other = Context.get(
        yield* Layer.build(Root.layer({ name: "chat", host: "127.0.0.1", port: 0 })),
        Root.Root
      )
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const both = Context.get(
        yield* Layer.build(
          Remote.serve("chat", Game1Remote, Game1Handlers).pipe(
            Layer.provide(Layer.succeed(Gate, { started, release })),
            Layer.provideMerge(
              Remote.layer({
                name: "game2",
                parents: [
                  { name: "gate", ...root.address },
                  { name: "chat", ...other.address }
                ]
              })
            )
          )
        ),
        Remote.Remote
      )
      yield* both.awaitConnected("gate")
      yield* both.awaitConnected("chat")
      yield* other.awaitChild("game2")
      yield* root.awaitChild("game2")
      const fromChat = yield* other.child("game2", Game1Remote)
      expect(yield* fromChat.game1Handle("x")).toBe("game1Handle completed")
      const fromGate = yield* root.child("game2", Game1Remote)
      const exit = yield* Effect.exit(fromGate.game1Handle("x"))
      expect(Exit.isFailure(exit) && exit.cause._tag === "Die").toBe(true)
      // and the child still reaches gate's own group
      const gate = yield* both.parent("gate", GateRoot)
      expect(yield* gate.gateHandle1("x")).toBe("gateHandle Completed")
    }).pipe(Effect.provide(Transport.layerMemory))
  )

  it.scoped("heartbeat: a silent link is detected dead after the timeout", () =>
    Effect.gen(function* () {
      const network = yield* MemoryNetwork
      const { net, root } = yield* cluster
      const lost = yield* net.changes("gate").pipe(
        Stream.filter((status) => status._tag === "Connecting"),
        Stream.runHead,
        Effect.fork
      )
      yield* network.delay(root.address, "1 minute")
      yield* advance(2)
      expect(lost.unsafePoll()).toBeNull()
      yield* advance(3)
      const status = yield* Fiber.join(lost)
      expect(status._tag).toBe("Some")
      if (status._tag === "Some" && status.value._tag === "Connecting") {
        expect(status.value.lastError?._tag).toBe("TransportError")
        expect(status.value.lastError?._tag === "TransportError" && status.value.lastError.reason).toBe(
          "HeartbeatTimeout"
        )
      }
      expect(yield* root.children).toEqual([])
      // once the network heals, the link comes back
      yield* network.delay(root.address, 0)
      yield* advance(10)
      yield* net.awaitConnected("gate")
    }).pipe(Effect.provide(Transport.layerMemory))
  )
})
