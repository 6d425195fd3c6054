/**
 * A tiny client for the arena:
 *   node --import tsx examples/arena/client.ts [port] [player] [rooms]
 * joins each room (default `red,green,blue,gold,jade,ruby`), says hello in each, and prints every
 * room's state with the runner hosting it now. Run it again after killing a runner: the rooms it
 * hosted answer from another runner and their `seq` carries on.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { Client } from "hotaru-rt"
import { Join, Say, State } from "./protocol.js"

const port = Number(process.argv[2] ?? 10021)
const player = process.argv[3] ?? "ann"
const rooms = (process.argv[4] ?? "red,green,blue,gold,jade,ruby").split(",")

const program = Effect.gen(function* () {
  const client = yield* Client.connect({ host: "127.0.0.1", port, timeout: "30 seconds" })
  for (const room of rooms) {
    const joined = yield* client.call(Join, { room, player })
    const said = yield* client.call(Say, { room, player, text: `hello from ${player}` })
    const state = yield* client.call(State, { room })
    yield* Effect.log(
      `${room}: on ${state.runner}, players ${joined.players.join(",")}, say #${said.seq}, seq ${state.seq}`
    )
  }
  const stranger = yield* client
    .call(Say, { room: rooms[0]!, player: `${player}-stranger`, text: "hi" })
    .pipe(
      Effect.map((r) => `accepted as #${r.seq}?`),
      Effect.catchTag("NotInRoom", (e) => Effect.succeed(`NotInRoom: ${e.message}`))
    )
  yield* Effect.log(`a player who never joined: ${stranger}`)
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
