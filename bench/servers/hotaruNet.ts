/**
 * The hotaru bench `net` node, one process:
 *   node --import tsx bench/servers/hotaruNet.ts [--port 0] [--nodelay on|off] [--backend PORT]
 *     [--log-level info|warning]
 * With `--backend`, it is also a child (`Remote`) of the `backend` node on 127.0.0.1:PORT and
 * answers command 4 (forward). Prints `READY port=N pid=P` once it accepts clients. Traces as
 * env `HOTARU_BENCH_TRACES` says (`bench/app/traces.ts`; default off).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { NetServer, Remote, Transport } from "hotaru-rt"
import { App, ForwardApp } from "../app/netApp.js"
import { BACKEND } from "../app/protocol.js"
import { tracesLayer } from "../app/traces.js"
import { boolArg, numberArg, parseArgs } from "../args.js"

const args = parseArgs(process.argv.slice(2))
const host = "127.0.0.1"
const options: NetServer.Options = {
  host,
  port: numberArg(args, "port", 0),
  noDelay: boolArg(args, "nodelay", true),
  node: "net"
}
const backendPort = args.get("backend")
const logLevel = LogLevel.fromLiteral(args.get("log-level") === "warning" ? "Warning" : "Info")

/** Under `--expose-gc` (W4), collect start-up garbage first so the RSS measured "before" is settled. */
const ready = (port: number) =>
  Effect.sync(() => {
    ;(globalThis as { gc?: () => void }).gc?.()
    process.stdout.write(`READY port=${port} pid=${process.pid}\n`)
  }).pipe(Effect.zipRight(Effect.never))

const main =
  backendPort === undefined
    ? Effect.flatMap(NetServer.NetServer, (net) => ready(net.address.port)).pipe(
        Effect.provide(NetServer.serve(App, options).pipe(Layer.provide(tracesLayer("net"))))
      )
    : Effect.gen(function* () {
        const net = yield* NetServer.NetServer
        const remote = yield* Remote.Remote
        yield* remote.awaitConnected(BACKEND)
        return yield* ready(net.address.port)
      }).pipe(
        Effect.provide(
          NetServer.serve(Layer.merge(App, ForwardApp), options).pipe(
            Layer.provideMerge(
              Remote.layer({
                name: "net",
                parents: [{ name: BACKEND, host, port: Number(backendPort) }]
              })
            ),
            Layer.provide(tracesLayer("net")),
            Layer.provide(Transport.layerTcp())
          )
        )
      )

NodeRuntime.runMain(main.pipe(Effect.provide(Logger.minimumLogLevel(logLevel))))
