import { Rpc, RpcGroup } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { turnedAway } from "../src/internal/rpc/rootAdmission.js"
import { RegistrationRefused } from "../src/NodeError.js"
import * as RemoteModule from "../src/Remote.js"
import * as Remote from "../src/Remote.js"
import { type ParentStatus, type RemoteOptions } from "../src/Remote.js"
import * as RootModule from "../src/Root.js"
import * as Root from "../src/Root.js"
import { type RootOptions } from "../src/Root.js"
import * as Transport from "../src/Transport.js"
import { callerOf } from "./support/caller.js"

class Whoami extends RpcGroup.make(Rpc.make("whoami", { success: Schema.String })) {}
class ChildWhoami extends RpcGroup.make(Rpc.make("childWhoami", { success: Schema.String })) {}
class Unserved extends RpcGroup.make(Rpc.make("nobodyServesMe", { success: Schema.String })) {}
class Slow extends RpcGroup.make(Rpc.make("never", { success: Schema.String })) {}

const WhoamiHandlers = Whoami.toLayer({ whoami: (_, options) => Effect.succeed(callerOf(options)) })
const ChildWhoamiHandlers = ChildWhoami.toLayer({
  childWhoami: () => Effect.map(RemoteModule.Caller, (caller) => caller.name)
})
const SlowHandlers = Slow.toLayer({ never: () => Effect.never })

const startRoot = (options: Omit<RootOptions, "host" | "port">) =>
  Effect.map(
    Layer.build(
      Layer.mergeAll(Root.serve(Whoami, WhoamiHandlers), Root.serve(Slow, SlowHandlers)).pipe(
        Layer.provideMerge(Root.layer({ ...options, host: "127.0.0.1", port: 0 }))
      )
    ),
    Context.get(Root.Root)
  )

const startChild = (
  root: Root.Root["Type"],
  options: Omit<RemoteOptions, "parents">,
  parentName = root.name
) =>
  Effect.map(
    Layer.build(
      Remote.serve(parentName, ChildWhoami, ChildWhoamiHandlers).pipe(
        Layer.provideMerge(
          Remote.layer({
            ...options,
            parents: [{ name: parentName, host: "127.0.0.1", port: root.address.port }]
          })
        )
      )
    ),
    Context.get(Remote.Remote)
  )

/** The first status of parent `name` that says the registration was refused. */
const refusal = (remote: Remote.Remote["Type"], name: string) =>
  remote.changes(name).pipe(
    Stream.filterMap((status: ParentStatus) =>
      status._tag === "Connecting" && status.lastError instanceof RegistrationRefused
        ? Option.some(status.lastError)
        : Option.none()
    ),
    Stream.runHead,
    Effect.map(Option.getOrThrow)
  )

const bothWays = Effect.gen(function* () {
  const root = yield* startRoot({ name: "gate" })
  const game1 = yield* startChild(root, { name: "game1" })
  yield* game1.awaitConnected("gate")
  yield* root.awaitChild("game1")
  // the child calls the parent: the handler sees the child's name
  const gate = yield* game1.parent("gate", Whoami)
  expect(yield* gate.whoami()).toBe("game1")
  // the parent calls the child over the same link: the handler sees the parent's name
  const child = yield* root.child("game1", ChildWhoami)
  expect(yield* child.childWhoami()).toBe("gate")
  expect(yield* root.children).toEqual(["game1"])
})

const duplicateName = Effect.gen(function* () {
  const root = yield* startRoot({ name: "gate" })
  const first = yield* startChild(root, { name: "game1" })
  yield* first.awaitConnected("gate")
  const second = yield* startChild(root, { name: "game1" })
  const refused = yield* refusal(second, "gate")
  expect(refused.reason).toBe("DuplicateName")
  expect(refused.node).toBe("game1")
  expect(refused.message).toContain("already holds")
  // the first registration is untouched
  const gate = yield* first.parent("gate", Whoami)
  expect(yield* gate.whoami()).toBe("game1")
})

const wrongParent = Effect.gen(function* () {
  const root = yield* startRoot({ name: "gate" })
  const lost = yield* startChild(root, { name: "game1" }, "master")
  const refused = yield* refusal(lost, "master")
  expect(refused.reason).toBe("WrongParent")
  expect(yield* root.children).toEqual([])
})

const unknownName = Effect.gen(function* () {
  const root = yield* startRoot({ name: "gate", accept: ["game1", "net"] })
  const intruder = yield* startChild(root, { name: "intruder" })
  const refused = yield* refusal(intruder, "gate")
  expect(refused.reason).toBe("UnknownName")
  const net = yield* startChild(root, { name: "net" })
  yield* net.awaitConnected("gate")
  expect(yield* root.children).toEqual(["net"])
})

const unservedGroup = Effect.gen(function* () {
  const root = yield* startRoot({ name: "gate" })
  const game1 = yield* startChild(root, { name: "game1" })
  yield* game1.awaitConnected("gate")
  const gate = yield* game1.parent("gate", Unserved)
  const exit = yield* Effect.exit(gate.nobodyServesMe())
  expect(Exit.isFailure(exit) && exit.cause._tag === "Die").toBe(true)
})

const contract = (name: string, effect: Effect.Effect<void, unknown, Scope.Scope | Transport.Transport>) => {
  describe(name, () => {
    it.scoped("memory transport", () => effect.pipe(Effect.provide(Transport.layerMemory)))
    it.scopedLive("tcp transport", () =>
      effect.pipe(Effect.provide(Transport.layerTcp()), Effect.timeout("10 seconds"))
    )
  })
}

/** The clients of both directions as services, each built once by its layer. */
class GateWhoami extends RemoteModule.ParentClient<GateWhoami>()("test/GateWhoami", "gate", Whoami) {}
class Game1Whoami extends RootModule.ChildClient<Game1Whoami>()("test/Game1Whoami", "game1", ChildWhoami) {}

const clientServices = Effect.gen(function* () {
  const root = yield* startRoot({ name: "gate" })
  const game1 = yield* startChild(root, { name: "game1" })
  yield* game1.awaitConnected("gate")
  yield* root.awaitChild("game1")
  const both = Layer.merge(
    GateWhoami.layer.pipe(Layer.provide(Layer.succeed(Remote.Remote, game1))),
    Game1Whoami.layer.pipe(Layer.provide(Layer.succeed(Root.Root, root)))
  )
  const [up, down] = yield* Effect.all([
    Effect.flatMap(GateWhoami, (gate) => gate.whoami()),
    Effect.flatMap(Game1Whoami, (child) => child.childWhoami())
  ]).pipe(Effect.provide(both))
  expect([up, down]).toEqual(["game1", "gate"])
  // the same clients as `Remote.client` / `root.child` give: built once per node and group
  const context = yield* Layer.build(both)
  expect(Context.get(context, GateWhoami)).toBe(yield* game1.parent("gate", Whoami))
  expect(Context.get(context, Game1Whoami)).toBe(
    yield* RootModule.client("game1", ChildWhoami).pipe(Effect.provideService(Root.Root, root))
  )
})

/** `Caller` is a per-call service: read while the handlers are built, it is a clear defect. */
const callerAtBuild = Effect.gen(function* () {
  const early = Whoami.toLayer(
    Effect.gen(function* () {
      const caller = yield* RootModule.Caller
      const name = caller.name
      return { whoami: () => Effect.succeed(name) }
    })
  )
  const exit = yield* Layer.build(
    RootModule.serve(Whoami, early).pipe(
      Layer.provideMerge(RootModule.layer({ name: "gate", host: "127.0.0.1", port: 0 }))
    )
  ).pipe(Effect.exit)
  expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain(
    "Caller is known inside a handler's call, not while building the handlers"
  )
})

contract("Root: calls both ways over the child's one link", bothWays)
contract("Root: node clients as services (Remote.ParentClient, Root.ChildClient), built once", clientServices)
contract("Root: Caller read outside a call is a defect that says so", callerAtBuild)
contract("Root: duplicate name refused", duplicateName)
contract("Root: wrong parent name refused", wrongParent)
contract("Root: unknown name refused when `accept` is set", unknownName)
contract("Root: a group nobody serves fails with a defect, not a hang", unservedGroup)

describe("Root (memory transport, TestClock)", () => {
  it.scoped("a refused child retries with backoff, not in a tight loop", () =>
    Effect.gen(function* () {
      const root = yield* startRoot({ name: "gate", accept: ["game1"] })
      const intruder = yield* startChild(root, { name: "intruder" })
      const refusals = yield* Ref.make(0)
      yield* intruder.changes("gate").pipe(
        Stream.runForEach((status) =>
          status._tag === "Connecting" && status.lastError instanceof RegistrationRefused
            ? Ref.update(refusals, (n) => n + 1)
            : Effect.void
        ),
        Effect.forkScoped
      )
      yield* refusal(intruder, "gate")
      // backoff from 100 ms doubling (jittered): about 4 attempts in the first second
      for (let i = 0; i < 8; i++) yield* TestClock.adjust("125 millis")
      const count = yield* Ref.get(refusals)
      expect(count).toBeGreaterThanOrEqual(2)
      expect(count).toBeLessThanOrEqual(6)
    }).pipe(Effect.provide(Transport.layerMemory))
  )

  it.scoped("a refused child is counted in root.stats and in the turned-away Metric", () =>
    Effect.gen(function* () {
      const root = yield* startRoot({ name: "statsGate", accept: ["game1"] })
      const intruder = yield* startChild(root, { name: "intruder" })
      yield* refusal(intruder, "statsGate")
      const stats = yield* root.stats
      expect(stats).toEqual({ unauthenticated: 0, helloTimeouts: 0, badHellos: 0, refused: 1, overloaded: 0 })
      const refused = turnedAway.pipe(Metric.tagged("node", "statsGate"), Metric.tagged("reason", "refused"))
      expect((yield* Metric.value(refused)).count).toBe(1)
    }).pipe(Effect.provide(Transport.layerMemory))
  )

  it.scoped("changes: Joined and Left", () =>
    Effect.gen(function* () {
      const root = yield* startRoot({ name: "gate" })
      const events = yield* root.changes.pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      yield* Effect.yieldNow()
      const scope = yield* Scope.make()
      const game1 = yield* startChild(root, { name: "game1" }).pipe(Scope.extend(scope))
      yield* game1.awaitConnected("gate")
      yield* Scope.close(scope, Exit.void)
      expect(Chunk.toReadonlyArray(yield* Fiber.join(events))).toEqual([
        { _tag: "Joined", name: "game1" },
        { _tag: "Left", name: "game1" }
      ])
    }).pipe(Effect.provide(Transport.layerMemory))
  )

  it.scoped("an interrupted caller stays interrupted (a timeout is not a LinkLost)", () =>
    Effect.gen(function* () {
      const root = yield* startRoot({ name: "gate" })
      const game1 = yield* startChild(root, { name: "game1" })
      yield* game1.awaitConnected("gate")
      const gate = yield* game1.parent("gate", Slow)
      const call = yield* Effect.fork(Effect.either(Effect.timeout(gate.never(), "1 second")))
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(call)
      expect(result._tag === "Left" && result.left._tag).toBe("TimeoutException")
    }).pipe(Effect.provide(Transport.layerMemory))
  )
})
