/**
 * Behaviour checks of the inter-node RPC fast path that the test suite does not reach (headers,
 * `discard`, interruption reaching the handler, typed failures, defects, transforming schemas,
 * stream rpcs on the stock path), on both transports.
 *   node --import tsx test/support/rpcFastpathChecks.ts (run by test/rpcFastpath.test.ts)
 * Prints one line per check and exits non-zero on the first failure.
 */
import { Rpc, RpcClient, RpcGroup } from "@effect/rpc"
import { Cause, Chunk, Context, Deferred, Effect, Exit, Fiber, Layer, Schema, Stream } from "effect"
import { Remote } from "../../src/Remote.js"
import { Root } from "../../src/Root.js"
import { Transport } from "../../src/Transport.js"

class Boom extends Schema.TaggedError<Boom>()("Boom", { detail: Schema.String }) {}

class Checks extends RpcGroup.make(
  Rpc.make("headers", { success: Schema.Array(Schema.String) }),
  Rpc.make("record", { payload: { n: Schema.Number } }),
  Rpc.make("recorded", { success: Schema.Array(Schema.Number) }),
  Rpc.make("block", { success: Schema.String }),
  Rpc.make("fail", { payload: { detail: Schema.String }, error: Boom }),
  Rpc.make("die", {}),
  Rpc.make("dates", { payload: { at: Schema.Date }, success: Schema.Date }),
  Rpc.make("count", { payload: { to: Schema.Number }, success: Schema.Number, stream: true })
) {}

class Probe extends Context.Tag("check/Probe")<
  Probe,
  {
    readonly started: Deferred.Deferred<void>
    readonly interrupted: Deferred.Deferred<void>
    readonly recorded: Array<number>
  }
>() {}

const Handlers = Checks.toLayer(
  Effect.gen(function* () {
    const probe = yield* Probe
    return {
      headers: (_, { headers }) =>
        Effect.succeed([headers["x-test"] ?? "-", headers["x-fiber"] ?? "-", Root.callerOf({ headers })]),
      record: ({ n }) => Effect.sync(() => void probe.recorded.push(n)),
      recorded: () => Effect.sync(() => [...probe.recorded]),
      block: () =>
        Deferred.succeed(probe.started, undefined).pipe(
          Effect.zipRight(Effect.never),
          Effect.onInterrupt(() => Deferred.succeed(probe.interrupted, undefined))
        ),
      fail: ({ detail }) => Effect.fail(new Boom({ detail })),
      die: () => Effect.dieMessage("on purpose"),
      dates: ({ at }) => Effect.succeed(new Date(at.getTime() + 1000)),
      count: ({ to }) => Stream.range(1, to)
    }
  })
)

const check = (name: string, ok: boolean, detail?: unknown) =>
  Effect.suspend(() => {
    console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : `: ${JSON.stringify(detail)}`}`)
    return ok ? Effect.void : Effect.dieMessage(`check failed: ${name}`)
  })

const run = (transport: string) =>
  Effect.gen(function* () {
    const probe = {
      started: yield* Deferred.make<void>(),
      interrupted: yield* Deferred.make<void>(),
      recorded: [] as Array<number>
    }
    const rootCtx = yield* Layer.build(
      Root.serve(Checks, Handlers).pipe(
        Layer.provide(Layer.succeed(Probe, probe)),
        Layer.provideMerge(Root.layer({ name: "root", host: "127.0.0.1", port: 0 }))
      )
    )
    const root = Context.get(rootCtx, Root)
    const remoteCtx = yield* Layer.build(
      Remote.layer({ name: "leaf", parents: [{ name: "root", host: "127.0.0.1", port: root.address.port }] })
    )
    const remote = Context.get(remoteCtx, Remote)
    yield* remote.awaitConnected("root")
    const client = yield* remote.parent("root", Checks)
    const t = (name: string) => `${transport}: ${name}`

    const headers = yield* client
      .headers(undefined, { headers: { "x-test": "given" } })
      .pipe(RpcClient.withHeaders({ "x-fiber": "inherited" }))
    yield* check(
      t("headers (option + withHeaders + callerOf)"),
      headers.join() === "given,inherited,leaf",
      headers
    )
    const plain = yield* client.headers()
    yield* check(t("no extra headers"), plain.join() === "-,-,leaf", plain)

    yield* client.record({ n: 1 }, { discard: true })
    yield* client.record({ n: 2 })
    const recorded = yield* client.recorded()
    yield* check(t("discard runs the handler, in order"), recorded.join() === "1,2", recorded)

    const blocked = yield* Effect.fork(client.block())
    yield* Deferred.await(probe.started)
    yield* Fiber.interrupt(blocked)
    const reached = yield* Deferred.await(probe.interrupted).pipe(Effect.timeout("2 seconds"), Effect.option)
    yield* check(t("an interrupted caller interrupts the handler"), reached._tag === "Some")

    const failed = yield* Effect.flip(client.fail({ detail: "typed" }))
    yield* check(
      t("typed failure"),
      failed instanceof Boom && failed.detail === "typed",
      failed instanceof Boom ? failed.detail : String(failed)
    )

    const died = yield* Effect.exit(client.die())
    yield* check(
      t("defect"),
      Exit.isFailure(died) && Cause.isDie(died.cause) && Cause.pretty(died.cause).includes("on purpose"),
      Exit.isFailure(died) ? Cause.pretty(died.cause) : "success"
    )

    const at = new Date("2026-01-01T00:00:00Z")
    const later = yield* client.dates({ at })
    yield* check(
      t("transforming schemas both ways"),
      later instanceof Date && later.getTime() === at.getTime() + 1000
    )

    const counted = yield* client.count({ to: 5 }).pipe(Stream.runCollect)
    yield* check(t("stream rpc (stock path)"), Chunk.toReadonlyArray(counted).join() === "1,2,3,4,5", counted)

    const many = yield* Effect.all(
      Array.from({ length: 500 }, (_, i) => client.dates({ at: new Date(i) })),
      { concurrency: "unbounded" }
    )
    yield* check(
      t("500 concurrent calls, each its own reply"),
      many.every((d, i) => d.getTime() === i + 1000)
    )

    const sessions = [...root.endpoint.sessions.values(), ...remote.endpoint.sessions.values()]
    const left = sessions.map((session) => session.pending.size + session.running.size)
    yield* check(t("nothing left in flight"), sessions.length === 2 && left.every((n) => n === 0), left)
  }).pipe(Effect.scoped)

const program = Effect.gen(function* () {
  yield* run("memory").pipe(Effect.provide(Transport.layerMemory))
  yield* run("tcp").pipe(Effect.provide(Transport.layerTcp()))
}).pipe(Effect.timeout("30 seconds"))

Effect.runPromise(program).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
