/**
 * The hotaru bench `backend` node (a `Root`), one process: serves `EchoRpc` to its children
 * (the `net` node for W2, the W5 caller).
 *   node --import tsx bench/servers/hotaruBackend.ts [--port 0]
 * Prints `READY port=N pid=P` once it listens. Traces as env `HOTARU_BENCH_TRACES` says
 * (`bench/app/traces.ts`; default off).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { Root, Transport } from "hotaru-rt"
import { BACKEND, EchoRpc } from "../app/rpc.js"
import { tracesLayer } from "../app/traces.js"
import { numberArg, parseArgs } from "../args.js"

const args = parseArgs(process.argv.slice(2))

const Handlers = EchoRpc.toLayer({ echo: ({ body }) => Effect.succeed(body) })

const Backend = Root.serve(EchoRpc, Handlers).pipe(
  Layer.provideMerge(Root.layer({ name: BACKEND, host: "127.0.0.1", port: numberArg(args, "port", 0) })),
  Layer.provide(tracesLayer(BACKEND)),
  Layer.provide(Transport.layerTcp())
)

const main = Effect.gen(function* () {
  const root = yield* Root.Root
  yield* Effect.sync(() => process.stdout.write(`READY port=${root.address.port} pid=${process.pid}\n`))
  return yield* Effect.never
})

NodeRuntime.runMain(main.pipe(Effect.provide(Backend)))
