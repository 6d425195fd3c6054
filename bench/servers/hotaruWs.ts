/**
 * The hotaru bench `ws` node, one process: hotaru's WebSocket edge (`wsport`, no netport) serving
 * the bench's WebSocket app (`bench/app/wsApp.ts`) with the edge's default limits.
 *   node [--expose-gc] --import tsx bench/servers/hotaruWs.ts [--port 0] [--log-level info|warning]
 *     [--from src|dist]
 * `--from dist`: hotaru from the compiled package (`npm run build` first) instead of its sources
 * under tsx (whose `keepNames` gives every named closure a dictionary of properties: WS3 counts
 * them). Prints `READY port=N pid=P` once it accepts clients.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Logger, LogLevel } from "effect"
import type * as Hotaru from "hotaru-rt"
import { serveWsApp } from "../app/wsApp.js"
import { numberArg, parseArgs } from "../args.js"

const args = parseArgs(process.argv.slice(2))
// Info by default, as bench/servers/hotaruNet.ts (and a deployed node): a line per connect and close
const logLevel = LogLevel.fromLiteral(args.get("log-level") === "warning" ? "Warning" : "Info")

const from = args.get("from") ?? "src"
if (from !== "src" && from !== "dist") throw new Error(`--from must be src or dist, got ${from}`)
const dist = new URL("../../dist/index.js", import.meta.url).href
const hotaru: typeof Hotaru = from === "dist" ? await import(dist) : await import("hotaru-rt")

const main = Effect.gen(function* () {
  const server = yield* hotaru.NetServer.NetServer
  const port = server.addresses.webSocket!.port
  // under --expose-gc: collect start-up garbage so the memory measured "before" is settled
  ;(globalThis as { gc?: () => void }).gc?.()
  process.stdout.write(`READY port=${port} pid=${process.pid}\n`)
  return yield* Effect.never
}).pipe(Effect.provide(serveWsApp(hotaru, numberArg(args, "port", 0))))

NodeRuntime.runMain(main.pipe(Effect.provide(Logger.minimumLogLevel(logLevel))))
