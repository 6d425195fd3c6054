/**
 * W5's reference: stock `@effect/rpc` serving `EchoRpc` over its socket protocol with msgpack,
 * default settings (tracing on, `NodeSocketServer` as it comes: Nagle on).
 *   node --import tsx bench/servers/stockRpc.ts [--port 0] [--nodelay on]   (default: Nagle on)
 * Prints `READY port=N pid=P` once it listens.
 */

import * as SocketServer from "@effect/platform/SocketServer"
import { NodeRuntime, NodeSocketServer } from "@effect/platform-node"
import { RpcSerialization, RpcServer } from "@effect/rpc"
import { Effect, Layer } from "effect"
import { EchoRpc } from "../app/rpc.js"
import { boolArg, numberArg, parseArgs } from "../args.js"

const args = parseArgs(process.argv.slice(2))

const Handlers = EchoRpc.toLayer({ echo: ({ body }) => Effect.succeed(body) })

const Server = RpcServer.layer(EchoRpc).pipe(
  Layer.provide(Handlers),
  Layer.provide(RpcServer.layerProtocolSocketServer),
  Layer.provide(RpcSerialization.layerMsgPack),
  Layer.provideMerge(
    NodeSocketServer.layer({
      host: "127.0.0.1",
      port: numberArg(args, "port", 0),
      ...(boolArg(args, "nodelay", false) ? { noDelay: true } : {})
    })
  )
)

const main = Effect.gen(function* () {
  const server = yield* SocketServer.SocketServer
  const port = server.address._tag === "TcpAddress" ? server.address.port : 0
  yield* Effect.sync(() => process.stdout.write(`READY port=${port} pid=${process.pid}\n`))
  return yield* Effect.never
})

NodeRuntime.runMain(main.pipe(Effect.provide(Server)))
