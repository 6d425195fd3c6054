/**
 * A `NetServer` handler that only forwards to another node (`(req) => backend.echo(req)`): its
 * node-RPC call is started without a fiber (`internal/rpc/directCall.ts`) and its reply answers the
 * client from the link's callback. Over real TCP (a `Root` backend, a `Remote` net node, real
 * clients): the answers, their order beside fiber handlers, typed errors and defects, a link
 * lost mid-call, a parent not connected (the fiber fallback), and closing the net server with
 * calls in flight or past `requestTimeout` (the backend's handlers are interrupted, as with fibers).
 */
import { Rpc, RpcGroup } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import {
  Context,
  Deferred,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Schema,
  Scope
} from "effect"
import * as Client from "../src/Client.js"
import * as DirectCall from "../src/internal/rpc/directCall.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetServer from "../src/NetServer.js"
import * as Remote from "../src/Remote.js"
import * as Root from "../src/Root.js"
import * as Transport from "../src/Transport.js"

class RoomFull extends Schema.TaggedError<RoomFull>()("RoomFull", { room: Schema.String }) {}

class Back extends RpcGroup.make(
  Rpc.make("echo", { payload: { text: Schema.String }, success: Schema.String }),
  Rpc.make("join", {
    payload: { room: Schema.String },
    success: Schema.Struct({ seat: Schema.Int }),
    error: RoomFull
  }),
  Rpc.make("boom", { payload: { text: Schema.String }, success: Schema.String }),
  Rpc.make("hold", { payload: { text: Schema.String }, success: Schema.String }),
  Rpc.make("who", { payload: { text: Schema.String }, success: Schema.String })
) {}

/** What the backend's `hold` handler reports: started, and interrupted. */
class Probe extends Context.Tag("test/forward/Probe")<
  Probe,
  { readonly started: Deferred.Deferred<void>; readonly interrupted: Deferred.Deferred<void> }
>() {}

const BackHandlers = Back.toLayer(
  Effect.gen(function* () {
    const probe = yield* Probe
    return {
      echo: ({ text }) => Effect.succeed(text),
      join: ({ room }) =>
        room === "full" ? Effect.fail(new RoomFull({ room })) : Effect.succeed({ seat: room.length }),
      boom: () => Effect.die("backend boom"),
      hold: () =>
        Deferred.succeed(probe.started, undefined).pipe(
          Effect.zipRight(Effect.never),
          Effect.onInterrupt(() => Deferred.succeed(probe.interrupted, undefined))
        ),
      who: ({ text }) => Effect.map(Root.Caller, (caller) => `${text}:${caller.name}`)
    }
  })
)

const Echo = NetCommand.text(1, { name: "echo" })
const Join = NetCommand.json(2, {
  name: "join",
  request: Schema.Struct({ room: Schema.String }),
  response: Schema.Struct({ seat: Schema.Int }),
  error: RoomFull
})
const Boom = NetCommand.text(3, { name: "boom" })
const Hold = NetCommand.text(4, { name: "hold" })
const Who = NetCommand.text(5, { name: "who" })
/** Not a bare forward: runs in a fiber. */
const Shout = NetCommand.text(6, { name: "shout" })

const NetApp = Layer.unwrapEffect(
  Effect.gen(function* () {
    const back = yield* Remote.client("backend", Back)
    return Layer.mergeAll(
      NetServer.handle(Echo, (text) => back.echo({ text })),
      NetServer.handle(Join, (request) => back.join(request)),
      NetServer.handle(Boom, (text) => back.boom({ text })),
      NetServer.handle(Hold, (text) => back.hold({ text })),
      NetServer.handle(Who, (text) => back.who({ text })),
      NetServer.handle(Shout, (text) => Effect.map(back.echo({ text }), (s) => s.toUpperCase()))
    )
  })
)

const host = "127.0.0.1"
const heartbeat = { interval: "1 second", timeout: "3 seconds" } as const

/** A backend Root (in its own scope, so a test can stop it) and a net node forwarding to it. */
const clusterWith = (netOptions: Partial<NetServer.Options>) =>
  Effect.gen(function* () {
    const started = yield* Deferred.make<void>()
    const interrupted = yield* Deferred.make<void>()
    const backendScope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(backendScope, Exit.void))
    const backendCtx = yield* Layer.buildWithScope(
      Root.serve(Back, BackHandlers).pipe(
        Layer.provide(Layer.succeed(Probe, { started, interrupted })),
        Layer.provideMerge(Root.layer({ name: "backend", host, port: 0, heartbeat }))
      ),
      backendScope
    )
    const backend = Context.get(backendCtx, Root.Root)
    const remoteCtx = yield* Layer.build(
      Remote.layer({ name: "net", parents: [{ name: "backend", ...backend.address }], heartbeat })
    )
    const remote = Context.get(remoteCtx, Remote.Remote)
    yield* remote.awaitConnected("backend")
    // the net server in its own scope, so a test can close it with calls in flight
    const netScope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(netScope, Exit.void))
    const netCtx = yield* Layer.buildWithScope(
      NetServer.serve(NetApp, { host, port: 0, ...netOptions }).pipe(
        Layer.provide(Layer.succeedContext(remoteCtx))
      ),
      netScope
    )
    const net = Context.get(netCtx, NetServer.NetServer)
    const client = yield* Client.connect({ host, port: net.address.port, timeout: "5 seconds" })
    return { backendScope, netScope, client, remote, started, interrupted }
  })
const cluster = clusterWith({})

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | Transport.Transport>) =>
  effect.pipe(
    Effect.provide(Transport.layerTcp()),
    Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)),
    Effect.timeout("20 seconds")
  )

describe("a handler that forwards to another node", () => {
  it.scopedLive("is a call that can start without a fiber", () =>
    run(
      Effect.gen(function* () {
        const { remote } = yield* cluster
        const back = yield* remote.parent("backend", Back)
        const call = back.echo({ text: "direct" })
        expect(DirectCall.isDirectCall(call)).toBe(true)
        expect(DirectCall.isDirectCall(Effect.map(call, (s) => s))).toBe(false)
        const fiberRefs = yield* Effect.getFiberRefs
        const exit = yield* Effect.async<Exit.Exit<unknown, unknown>>((resume) => {
          if (!DirectCall.isDirectCall(call)) return
          const cancel = call.start(fiberRefs, (e) => resume(Effect.succeed(e)))
          expect(cancel).toBeTypeOf("function")
        })
        expect(exit).toEqual(Exit.succeed("direct"))
        // the same value is an ordinary Effect too
        expect(yield* call).toBe("direct")
      })
    )
  )

  it.scopedLive("answers the client, in order beside handlers that run in a fiber", () =>
    run(
      Effect.gen(function* () {
        const { client } = yield* cluster
        expect(yield* client.call(Echo, "hello")).toBe("hello")
        expect(yield* client.call(Who, "me")).toBe("me:net")
        const calls = Array.from({ length: 64 }, (_, i) =>
          i % 3 === 0 ? client.call(Shout, `m${i}`) : client.call(Echo, `m${i}`)
        )
        const results = yield* Effect.all(calls, { concurrency: "unbounded" })
        expect(results).toEqual(Array.from({ length: 64 }, (_, i) => (i % 3 === 0 ? `M${i}` : `m${i}`)))
      })
    )
  )

  it.scopedLive("hands the backend's typed error to the client typed, a defect as a defect", () =>
    run(
      Effect.gen(function* () {
        const { client } = yield* cluster
        expect(yield* client.call(Join, { room: "room1" })).toEqual({ seat: 5 })
        const full = yield* Effect.flip(client.call(Join, { room: "full" }))
        expect(full).toBeInstanceOf(RoomFull)
        expect(full).toMatchObject({ _tag: "RoomFull", room: "full" })
        const boom = yield* Effect.flip(client.call(Boom, "x"))
        expect(boom).toMatchObject({ _tag: "CommandFailed", error: "Defect" })
        // the connection goes on
        expect(yield* client.call(Echo, "after")).toBe("after")
      })
    )
  )

  it.scopedLive("fails with NodeUnavailable when the link is lost mid-call, and when not connected", () =>
    run(
      Effect.gen(function* () {
        const { backendScope, client, started } = yield* cluster
        const held = yield* Effect.fork(Effect.either(client.call(Hold, "x")))
        yield* Deferred.await(started)
        yield* Scope.close(backendScope, Exit.void)
        const lost = yield* Fiber.join(held)
        expect(Either.isLeft(lost) && lost.left).toMatchObject({
          _tag: "CommandFailed",
          error: "HandlerFailed",
          tag: "NodeUnavailable"
        })
        // no session now: the call takes the fiber path and fails fast (callTimeout 0)
        const down = yield* Effect.flip(client.call(Echo, "y"))
        expect(down).toMatchObject({ _tag: "CommandFailed", error: "HandlerFailed", tag: "NodeUnavailable" })
      })
    )
  )

  it.scopedLive(
    "closing the net server gives up its forwarded calls (the backend's handler is interrupted)",
    () =>
      run(
        Effect.gen(function* () {
          const { client, interrupted, netScope, started } = yield* cluster
          yield* Effect.fork(Effect.either(client.call(Hold, "x")))
          yield* Deferred.await(started)
          yield* Scope.close(netScope, Exit.void)
          yield* Deferred.await(interrupted)
        })
      )
  )

  it.scopedLive(
    "a forwarded call past requestTimeout is answered Timeout and given up (the backend's handler is interrupted)",
    () =>
      run(
        Effect.gen(function* () {
          const { client, interrupted, started } = yield* clusterWith({
            limits: { requestTimeout: "300 millis" }
          })
          const held = yield* Effect.fork(Effect.flip(client.call(Hold, "x")))
          const after = yield* Effect.fork(client.call(Echo, "after"))
          yield* Deferred.await(started)
          expect(yield* Fiber.join(held)).toMatchObject({
            _tag: "CommandFailed",
            error: "Timeout",
            command: Hold.id
          })
          expect(yield* Fiber.join(after)).toBe("after")
          yield* Deferred.await(interrupted)
        })
      )
  )
})
