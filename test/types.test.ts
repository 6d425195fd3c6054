/**
 * Type-level checks of the node clients and the client edge: `tsc --noEmit` (CI's typecheck
 * covers test/) fails if a `@ts-expect-error` line below compiles, i.e. if a mistyped call, a
 * missing handler or an undeclared handler error were accepted. The checks are never run.
 */
import { Rpc, RpcGroup } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Client from "../src/Client.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetCommandGroup from "../src/NetCommandGroup.js"
import * as NetServer from "../src/NetServer.js"
import { NodeUnavailable } from "../src/NodeError.js"
import * as Remote from "../src/Remote.js"
import * as Root from "../src/Root.js"
import * as TestCluster from "../src/TestCluster.js"
import * as Transport from "../src/Transport.js"

class GateRoot extends RpcGroup.make(
  Rpc.make("gateHandle1", { payload: Schema.String, success: Schema.String }),
  Rpc.make("gateHandle2", { payload: Schema.String, success: Schema.String, error: NodeUnavailable })
) {}

class Game1Remote extends RpcGroup.make(
  Rpc.make("game1Handle", { payload: Schema.String, success: Schema.String })
) {}

/** Compile-time only: never run (exported so `noUnusedLocals` keeps it checked). */
// biome-ignore lint/suspicious/noExportsInTest: compile-time checks, imported by nothing
export const nodeClientChecks = Effect.gen(function* () {
  const root = yield* Root.Root
  const remote = yield* Remote.Remote
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

class RoomFull extends Schema.TaggedError<RoomFull>()("RoomFull", { room: Schema.String }) {}
class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { id: Schema.Number }) {}
class Banned extends Schema.TaggedError<Banned>()("Banned", {}) {}

const Join = NetCommand.json(1, {
  name: "join",
  request: Schema.Struct({ room: Schema.String }),
  response: Schema.Number,
  error: Schema.Union(RoomFull, NotFound)
})
const Leave = NetCommand.text(2, { name: "leave" })
const Ping = NetCommand.bytes(3)

/** Compile-time only: never run (exported so `noUnusedLocals` keeps it checked). */
// biome-ignore lint/suspicious/noExportsInTest: compile-time checks, imported by nothing
export const clientEdgeChecks = (client: Client.Client) => {
  // the client: payload in, response and the declared errors out
  const joined: Effect.Effect<number, RoomFull | NotFound | Client.ClientError | Client.CommandFailed> =
    client.call(Join, { room: "r1" })
  const left: Effect.Effect<string, Client.ClientError | Client.CommandFailed> = client.call(Leave, "bye")
  // @ts-expect-error the payload of join is { room: string }
  client.call(Join, { room: 1 })
  // @ts-expect-error join's failures include its declared errors
  const untyped: Effect.Effect<number, Client.ClientError | Client.CommandFailed> = client.call(Join, {
    room: "r"
  })
  // commands declaring different errors fit one list; a call's failure is the union
  const Shout = NetCommand.text(4, { name: "shout", error: RoomFull })
  const shouts: Array<Effect.Effect<string, RoomFull | Client.ClientError | Client.CommandFailed>> = [
    Leave,
    Shout
  ].map((command) => client.call(command, "x"))
  // a declared error can be caught by tag …
  const caught: Effect.Effect<number, NotFound | Client.ClientError | Client.CommandFailed> = Effect.catchTag(
    client.call(Join, { room: "r1" }),
    "RoomFull",
    () => Effect.succeed(0)
  )
  // @ts-expect-error … one it does not declare cannot
  Effect.catchTag(client.call(Join, { room: "r1" }), "Banned", () => Effect.succeed(0))

  // handlers: only the declared errors (and NetServer.Undeclared) may fail them
  const joinLayer: Layer.Layer<
    NetServer.Handled<"join", RoomFull | NotFound>,
    never,
    NetServer.NetRouter
  > = NetServer.handle(Join, ({ room }) =>
    room === "" ? Effect.fail(new RoomFull({ room })) : Effect.succeed(1)
  )
  // @ts-expect-error the handler layer keeps the command's error type
  const erased: Layer.Layer<NetServer.Handled<"join", never>, never, NetServer.NetRouter> = joinLayer
  NetServer.handle(Join, () => Effect.fail(new NodeUnavailable({ node: "lobby", reason: "NotConnected" })))
  // @ts-expect-error Banned is not in join's error schema
  NetServer.handle(Join, () => Effect.fail(new Banned()))
  // @ts-expect-error leave declares no error at all
  NetServer.handle(Leave, () => Effect.fail(new RoomFull({ room: "r" })))
  // @ts-expect-error a handler of join answers a number
  NetServer.handle(Join, () => Effect.succeed("one"))
  // @ts-expect-error a handler of join gets { room: string }
  NetServer.handle(Join, (request: string) => Effect.succeed(request.length))

  // a group demands one handler per command, each typed by its command
  const Lobby = NetCommandGroup.make(Join, Leave, Ping)
  const lobby: Layer.Layer<
    | NetServer.Handled<"join", RoomFull | NotFound>
    | NetServer.Handled<"leave", never>
    | NetServer.Handled<"command_3", never>,
    never,
    NetServer.NetRouter
  > = Lobby.toLayer({
    join: ({ room }) => (room === "" ? Effect.fail(new NotFound({ id: 0 })) : Effect.succeed(room.length)),
    leave: (text) => Effect.succeed(text),
    command_3: (bytes) => Effect.succeed(bytes)
  })
  // @ts-expect-error the handler of leave is missing
  Lobby.toLayer({ join: () => Effect.succeed(1), command_3: Effect.succeed })
  Lobby.toLayer({
    join: () => Effect.succeed(1),
    leave: () => Effect.void,
    command_3: Effect.succeed,
    // @ts-expect-error no command of the group is named extra
    extra: () => Effect.void
  })
  Lobby.toLayer({
    // @ts-expect-error Banned is not in join's error schema
    join: () => Effect.fail(new Banned()),
    leave: () => Effect.void,
    command_3: Effect.succeed
  })
  // what a group's handlers require is what its layer requires
  const needs: Layer.Layer<never, never, NetServer.NetRouter | Transport.Transport> = Lobby.toLayer({
    join: () => Effect.as(Transport.Transport, 1),
    leave: () => Effect.void,
    command_3: Effect.succeed
  })
  return [joined, left, untyped, shouts, caught, joinLayer, erased, lobby, needs]
}

/** Compile-time only: node names of a topology declared in code are typed (never run). */
// biome-ignore lint/suspicious/noExportsInTest: compile-time checks, imported by nothing
export const topologyChecks = Effect.gen(function* () {
  const servers = {
    lobby: { rootport: 1 },
    net: { netport: 2, remoteport: [{ rootport: 1, rootname: "lobby" }] }
  }
  const cluster = yield* TestCluster.make({ config: { servers }, apps: { lobby: Layer.empty } })
  const handles = [cluster.node("lobby"), cluster.node("net")]
  const client = cluster.client("net")
  // @ts-expect-error "lobbby" is no server of the topology declared above
  cluster.node("lobbby")
  // @ts-expect-error "nett" is no server either
  cluster.client("nett")
  // @ts-expect-error nor can a misspelled node be stopped, restarted or cut
  cluster.restart("lobbby")
  // @ts-expect-error an app for a misspelled node
  TestCluster.make({ config: { servers }, apps: { lobbby: Layer.empty } })
  // @ts-expect-error a misspelled node to start
  TestCluster.make({ config: { servers }, nodes: ["lobby", "nett"] })
  // a config file's names are strings, checked when the cluster starts
  const fromFile = yield* TestCluster.make({ config: "config.json", apps: { anything: Layer.empty } })
  return [handles, client, fromFile.node("anything")]
})

describe("types", () => {
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
      const root = Context.get(ctx, Root.Root)
      const net = Context.get(
        yield* Layer.build(Remote.layer({ name: "net", parents: [{ name: "gate", ...root.address }] })),
        Remote.Remote
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
