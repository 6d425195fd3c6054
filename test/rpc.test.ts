/**
 * The behaviour suite of node-to-node RPC, run over both paths of the core
 * (see `src/internal/rpc/rpcSession.ts`) and both transports:
 *
 * - the fast path: an rpc with no middleware and no stream takes the fast frames;
 * - the stock path: the same rpcs with a (no-op) middleware take the stock
 *   `RpcServer` / `RpcClient` over the same link.
 *
 * A parent "root" serves the group; a child "leaf" calls it through a client
 * built once (`Remote.client`).
 */
import type * as Headers from "@effect/platform/Headers"
import { Rpc, RpcClient, RpcGroup, RpcMiddleware } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { endpointOf } from "../src/internal/rpc/rpcSession.js"
import { NodeUnavailable } from "../src/NodeError.js"
import * as Remote from "../src/Remote.js"
import * as Root from "../src/Root.js"
import * as Transport from "../src/Transport.js"
import { callerOf } from "./support/caller.js"

class Boom extends Schema.TaggedError<Boom>()("Boom", { detail: Schema.String }) {}

class Checks extends RpcGroup.make(
  Rpc.make("hello", { payload: { name: Schema.String }, success: Schema.String }),
  Rpc.make("caller", { success: Schema.Array(Schema.String) }),
  Rpc.make("headers", { success: Schema.Array(Schema.String) }),
  Rpc.make("record", { payload: { n: Schema.Number } }),
  Rpc.make("recorded", { success: Schema.Array(Schema.Number) }),
  Rpc.make("block", { success: Schema.String }),
  Rpc.make("fail", { payload: { detail: Schema.String }, error: Boom }),
  Rpc.make("die", {}),
  Rpc.make("dates", { payload: { at: Schema.Date }, success: Schema.Date }),
  Rpc.make("count", { payload: { to: Schema.Number }, success: Schema.Number, stream: true })
) {}

/** A middleware that does nothing: its only effect is to send every rpc of its group the stock way. */
class Noop extends RpcMiddleware.Tag<Noop>()("test/rpc/Noop") {}
const NoopLive = Layer.succeed(Noop, () => Effect.void)

/** The same rpcs, all on the stock path. */
const StockChecks = Checks.middleware(Noop)

class Unserved extends RpcGroup.make(Rpc.make("nobody", { success: Schema.String })) {}

class Probe extends Context.Tag("test/rpc/Probe")<
  Probe,
  {
    readonly started: Deferred.Deferred<void>
    readonly interrupted: Deferred.Deferred<void>
    readonly recorded: Array<number>
  }
>() {}

const handlers = Effect.gen(function* () {
  const probe = yield* Probe
  return {
    hello: ({ name }: { readonly name: string }) => Effect.succeed(`hello, ${name}`),
    caller: (_: void, { headers }: { readonly headers: Headers.Headers }) =>
      Effect.map(Root.Caller, (caller) => [caller.name, callerOf({ headers })]),
    headers: (_: void, { headers }: { readonly headers: Headers.Headers }) =>
      Effect.succeed([headers["x-test"] ?? "-", headers["x-fiber"] ?? "-"]),
    record: ({ n }: { readonly n: number }) => Effect.sync(() => void probe.recorded.push(n)),
    recorded: () => Effect.sync(() => [...probe.recorded]),
    block: () =>
      Deferred.succeed(probe.started, undefined).pipe(
        Effect.zipRight(Effect.never),
        Effect.onInterrupt(() => Deferred.succeed(probe.interrupted, undefined))
      ),
    fail: ({ detail }: { readonly detail: string }) => Effect.fail(new Boom({ detail })),
    die: () => Effect.dieMessage("on purpose"),
    dates: ({ at }: { readonly at: Date }) => Effect.succeed(new Date(at.getTime() + 1000)),
    count: ({ to }: { readonly to: number }) => Stream.range(1, to)
  }
})

type Client = RpcClient.RpcClient<RpcGroup.Rpcs<typeof Checks>, NodeUnavailable>
type UnservedClient = RpcClient.RpcClient<RpcGroup.Rpcs<typeof Unserved>, NodeUnavailable>

const paths: ReadonlyArray<{
  readonly path: "fast" | "stock"
  readonly serve: Layer.Layer<never, never, Root.Root | Probe>
  readonly client: Effect.Effect<Client, never, Remote.Remote>
  readonly unserved: Effect.Effect<UnservedClient, never, Remote.Remote>
}> = [
  {
    path: "fast",
    serve: Root.serve(Checks, Checks.toLayer(handlers)),
    client: Remote.client("root", Checks),
    unserved: Remote.client("root", Unserved)
  },
  {
    path: "stock",
    serve: Root.serve(StockChecks, StockChecks.toLayer(handlers)).pipe(Layer.provide(NoopLive)),
    client: Remote.client("root", StockChecks),
    unserved: Remote.client("root", Unserved.middleware(Noop))
  }
]

const transports = [
  { transport: "memory", layer: Transport.layerMemory },
  { transport: "tcp", layer: Transport.layerTcp() }
] as const

const cases = paths.flatMap((p) => transports.map((t) => ({ ...p, ...t })))

const heartbeat = { interval: "200 millis", timeout: "1500 millis" } as const

describe.each(cases)(
  "node RPC, $path path, $transport transport",
  ({ client: makeClient, layer, path, serve, unserved: makeUnserved }) => {
    /** root serving the group, leaf connected to it, the client built once. */
    const start = Effect.gen(function* () {
      const transport = yield* Layer.build(layer)
      const probe = {
        started: yield* Deferred.make<void>(),
        interrupted: yield* Deferred.make<void>(),
        recorded: [] as Array<number>
      }
      const rootContext = yield* Layer.build(
        serve.pipe(
          Layer.provide(Layer.succeed(Probe, probe)),
          Layer.provideMerge(Root.layer({ name: "root", host: "127.0.0.1", port: 0, heartbeat })),
          Layer.provide(Layer.succeedContext(transport))
        )
      )
      const root = Context.get(rootContext, Root.Root)
      const remoteContext = yield* Layer.build(
        Remote.layer({
          name: "leaf",
          parents: [{ name: "root", host: "127.0.0.1", port: root.address.port }],
          heartbeat,
          reconnect: { base: "20 millis", max: "100 millis" }
        }).pipe(Layer.provide(Layer.succeedContext(transport)))
      )
      const remote = Context.get(remoteContext, Remote.Remote)
      yield* remote.awaitConnected("root")
      const client = yield* Effect.provide(makeClient, remoteContext)
      /** The leaf's session with root. */
      const session = () => [...endpointOf(remote).sessions.values()][0]!
      return { client, probe, remote, remoteContext, root, session, transport }
    })

    it.scopedLive(`calls take the ${path} path`, () =>
      Effect.gen(function* () {
        const { client, probe, session } = yield* start
        const blocked = yield* Effect.fork(client.block())
        yield* Deferred.await(probe.started)
        expect(session().pending.size).toBe(path === "fast" ? 1 : 0)
        expect(session().clients.size).toBe(path === "fast" ? 0 : 1)
        yield* Fiber.interrupt(blocked)
      })
    )

    it.scopedLive("a call succeeds; schemas transform both ways", () =>
      Effect.gen(function* () {
        const { client } = yield* start
        expect(yield* client.hello({ name: "leaf" })).toBe("hello, leaf")
        const at = new Date("2026-01-01T00:00:00Z")
        const later = yield* client.dates({ at })
        expect(later).toBeInstanceOf(Date)
        expect(later.getTime()).toBe(at.getTime() + 1000)
      })
    )

    it.scopedLive("a typed failure arrives typed (catchTag works)", () =>
      Effect.gen(function* () {
        const { client } = yield* start
        const failed = yield* Effect.flip(client.fail({ detail: "typed" }))
        expect(failed).toBeInstanceOf(Boom)
        expect(failed).toMatchObject({ _tag: "Boom", detail: "typed" })
        const caught = yield* client
          .fail({ detail: "again" })
          .pipe(Effect.catchTag("Boom", (boom) => Effect.succeed(`caught ${boom.detail}`)))
        expect(caught).toBe("caught again")
      })
    )

    it.scopedLive("a defect arrives as a defect with its message", () =>
      Effect.gen(function* () {
        const { client } = yield* start
        const died = yield* Effect.exit(client.die())
        expect(Exit.isFailure(died) && Cause.isDie(died.cause)).toBe(true)
        expect(Exit.isFailure(died) ? Cause.pretty(died.cause) : "").toContain("on purpose")
      })
    )

    it.scopedLive("the handler has the caller in context (Root.Caller), from the session only", () =>
      Effect.gen(function* () {
        const { client } = yield* start
        expect(yield* client.caller()).toEqual(["leaf", "leaf"])
        // a caller header sent by the peer is dropped
        const spoofed = yield* client.caller(undefined, { headers: { "hotaru-caller": "gate" } })
        expect(spoofed).toEqual(["leaf", "leaf"])
        const inherited = yield* client.caller().pipe(RpcClient.withHeaders({ "Hotaru-Caller": "gate" }))
        expect(inherited).toEqual(["leaf", "leaf"])
      })
    )

    it.scopedLive(
      "headers: the call's own and the fiber's (withHeaders) reach the handler; the call's win",
      () =>
        Effect.gen(function* () {
          const { client } = yield* start
          expect(yield* client.headers()).toEqual(["-", "-"])
          const both = yield* client
            .headers(undefined, { headers: { "x-test": "given" } })
            .pipe(RpcClient.withHeaders({ "x-fiber": "inherited" }))
          expect(both).toEqual(["given", "inherited"])
          const clash = yield* client
            .headers(undefined, { headers: { "x-test": "given" } })
            .pipe(RpcClient.withHeaders({ "x-test": "inherited" }))
          expect(clash).toEqual(["given", "-"])
        })
    )

    it.scopedLive("discard runs the handler, in order, with no reply", () =>
      Effect.gen(function* () {
        const { client } = yield* start
        yield* client.record({ n: 1 }, { discard: true })
        yield* client.record({ n: 2 })
        expect(yield* client.recorded()).toEqual([1, 2])
      })
    )

    it.scopedLive("an interrupted caller interrupts the handler", () =>
      Effect.gen(function* () {
        const { client, probe } = yield* start
        const blocked = yield* Effect.fork(client.block())
        yield* Deferred.await(probe.started)
        yield* Fiber.interrupt(blocked)
        yield* Deferred.await(probe.interrupted).pipe(Effect.timeout("2 seconds"))
      })
    )

    it.scopedLive("a caller's timeout ends the call and the handler", () =>
      Effect.gen(function* () {
        const { client, probe } = yield* start
        const result = yield* client.block().pipe(Effect.timeout("100 millis"), Effect.flip)
        expect(result._tag).toBe("TimeoutException")
        yield* Deferred.await(probe.interrupted).pipe(Effect.timeout("2 seconds"))
      })
    )

    it.scopedLive(
      "the link lost mid-call fails the call with NodeUnavailable(LinkLost); calls work again after",
      () =>
        Effect.gen(function* () {
          const { client, probe, remote, root } = yield* start
          const blocked = yield* Effect.fork(client.block())
          yield* Deferred.await(probe.started)
          for (const session of endpointOf(root).sessions.values()) session.link.unsafeClose("Cut")
          const error = yield* Fiber.join(blocked).pipe(Effect.flip, Effect.timeout("3 seconds"))
          expect(error).toBeInstanceOf(NodeUnavailable)
          expect(error).toMatchObject({ node: "root", reason: "LinkLost" })
          yield* Deferred.await(probe.interrupted).pipe(Effect.timeout("2 seconds"))
          yield* remote.awaitConnected("root")
          expect(yield* client.hello({ name: "again" })).toBe("hello, again")
        })
    )

    it.scopedLive("with no link: NotConnected at once, or Timeout after callTimeout", () =>
      Effect.gen(function* () {
        const { transport } = yield* start
        const lonely = (callTimeout?: Duration.DurationInput) =>
          Layer.build(
            Remote.layer({
              name: "lonely",
              // nothing listens there
              parents: [{ name: "root", host: "127.0.0.1", port: 1 }],
              callTimeout,
              reconnect: { base: "50 millis", max: "200 millis" }
            }).pipe(Layer.provide(Layer.succeedContext(transport)))
          ).pipe(Effect.flatMap((context) => Effect.provide(makeClient, context)))
        const now = yield* lonely()
        expect(yield* Effect.flip(now.hello({ name: "x" }))).toMatchObject({ reason: "NotConnected" })
        const patient = yield* lonely("200 millis")
        const started = Date.now()
        expect(yield* Effect.flip(patient.hello({ name: "x" }))).toMatchObject({ reason: "Timeout" })
        expect(Date.now() - started).toBeGreaterThanOrEqual(150)
      })
    )

    it.scopedLive("a group the peer does not serve fails with a defect that names it", () =>
      Effect.gen(function* () {
        const { remoteContext } = yield* start
        const unserved = yield* Effect.provide(makeUnserved, remoteContext)
        const died = yield* Effect.exit(unserved.nobody())
        expect(Exit.isFailure(died) && Cause.isDie(died.cause)).toBe(true)
        expect(Exit.isFailure(died) ? Cause.pretty(died.cause) : "").toContain(
          'node "root" does not serve "nobody" to "leaf"'
        )
      })
    )

    it.scopedLive("a stream rpc streams (always the stock path)", () =>
      Effect.gen(function* () {
        const { client } = yield* start
        const counted = yield* client.count({ to: 5 }).pipe(Stream.runCollect)
        expect(Chunk.toReadonlyArray(counted)).toEqual([1, 2, 3, 4, 5])
      })
    )

    it.scopedLive("500 concurrent calls each get their own reply; nothing is left in flight", () =>
      Effect.gen(function* () {
        const { client, remote, root } = yield* start
        const many = yield* Effect.all(
          Array.from({ length: 500 }, (_, i) => client.dates({ at: new Date(i) })),
          { concurrency: "unbounded" }
        )
        expect(many.map((d) => d.getTime())).toEqual(Array.from({ length: 500 }, (_, i) => i + 1000))
        const sessions = [...endpointOf(root).sessions.values(), ...endpointOf(remote).sessions.values()]
        expect(sessions.length).toBe(2)
        expect(sessions.map((s) => s.pending.size + s.running.size)).toEqual([0, 0])
      })
    )

    it.scopedLive("the client is built once: asking again gives the same client", () =>
      Effect.gen(function* () {
        const { client, remoteContext } = yield* start
        expect(yield* Effect.provide(makeClient, remoteContext)).toBe(client)
      })
    )
  }
)
