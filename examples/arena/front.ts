/**
 * The net front (`"entities": true`): game clients speak JSON commands; each is one typed call
 * to the `Room` entity, wherever the cluster placed it. `EntitySharding.orDieCluster` turns the
 * cluster's own failures (mailbox full, storage down) into defects; `NotInRoom` stays typed.
 */
import { Effect, Layer } from "effect"
import { EntitySharding } from "hotaru-rt"
import { ArenaCommands, Room } from "./protocol.js"

export default Layer.unwrapEffect(
  Effect.gen(function* () {
    const room = yield* Room.client
    return ArenaCommands.toLayer({
      join: ({ room: id, player }) =>
        Effect.map(EntitySharding.orDieCluster(room(id).Join({ player })), (r) => ({ room: id, ...r })),
      say: ({ room: id, player, text }) =>
        Effect.map(EntitySharding.orDieCluster(room(id).Say({ player, text })), (r) => ({ room: id, ...r })),
      state: ({ room: id }) =>
        Effect.map(EntitySharding.orDieCluster(room(id).State()), (r) => ({ room: id, ...r }))
    })
  })
)
