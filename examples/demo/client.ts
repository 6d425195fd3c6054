/**
 * The seed's test client: sends `msgdata` with commands 100, 200, 300 to the net node and prints
 * the replies. Usage: `node --import tsx examples/demo/client.ts [host] [port]`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { Client } from "hotaru-rt"
import { NetHandle100, NetHandle200, NetHandle300 } from "./app/protocol.js"

const host = process.argv[2] ?? "127.0.0.1"
const port = Number(process.argv[3] ?? 10001)

const program = Effect.gen(function* () {
  const client = yield* Client.connect({ host, port, timeout: "10 seconds" })
  for (const command of [NetHandle100, NetHandle200, NetHandle300]) {
    yield* Console.log("----------------")
    yield* Console.log(`send commandId: ${command.id}`)
    yield* Console.log(yield* client.call(command, "msgdata"))
  }
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
