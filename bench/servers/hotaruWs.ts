/**
 * The hotaru bench `ws` node, one process: hotaru's WebSocket edge (`wsport`, no netport) serving
 * the bench's WebSocket app (`bench/app/wsApp.ts`) with the edge's default limits.
 *   node [--expose-gc] --import tsx bench/servers/hotaruWs.ts [--port 0] [--log-level info|warning]
 * Prints `READY port=N pid=P` once it accepts clients.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Logger, LogLevel } from "effect"
import { NetServer } from "hotaru-rt"
import { WsApp } from "../app/wsApp.js"
import { numberArg, parseArgs } from "../args.js"

const args = parseArgs(process.argv.slice(2))
// Info by default, as bench/servers/hotaruNet.ts (and a deployed node): a line per connect and close
const logLevel = LogLevel.fromLiteral(args.get("log-level") === "warning" ? "Warning" : "Info")

const main = Effect.gen(function* () {
  const server = yield* NetServer.NetServer
  const port = server.addresses.webSocket!.port
  // under --expose-gc: collect start-up garbage so the memory measured "before" is settled
  ;(globalThis as { gc?: () => void }).gc?.()
  process.stdout.write(`READY port=${port} pid=${process.pid}\n`)
  return yield* Effect.never
}).pipe(
  Effect.provide(
    NetServer.serve(WsApp, {
      webSocket: { host: "127.0.0.1", port: numberArg(args, "port", 0) },
      node: "ws"
    })
  )
)

NodeRuntime.runMain(main.pipe(Effect.provide(Logger.minimumLogLevel(logLevel))))
