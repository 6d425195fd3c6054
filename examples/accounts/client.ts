/**
 * A tiny client for the accounts example:
 *   node --import tsx examples/accounts/client.ts [port] [username]
 * registers `username` (default "ann"), renames it, reads it back, and asks for an id that does
 * not exist (`AccountNotFound`, received typed).
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Client from "../../src/Client.js"
import { Get, Register, Rename } from "./commands.js"

const port = Number(process.argv[2] ?? 10001)
const username = process.argv[3] ?? "ann"

const program = Effect.gen(function* () {
  const client = yield* Client.connect({ host: "127.0.0.1", port, timeout: "10 seconds" })
  const { id } = yield* client.call(Register, { username, password: "secret" })
  yield* Effect.log(`registered ${username} as ${id}`)
  yield* Effect.log(
    `renamed: ${JSON.stringify(yield* client.call(Rename, { id, username: `${username}-renamed` }))}`
  )
  yield* Effect.log(`get: ${JSON.stringify(yield* client.call(Get, { id }))}`)
  const missing = yield* client.call(Get, { id: id + 1_000_000 }).pipe(
    Effect.map((account) => `found ${account.username}?`),
    Effect.catchTag("AccountNotFound", (e) => Effect.succeed(`AccountNotFound: ${e.message}`))
  )
  yield* Effect.log(`get ${id + 1_000_000}: ${missing}`)
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
