/**
 * The arena's protocol: the client commands of the net front (JSON bodies in firefly's frame) and
 * the `Room` entity the runners host. Shared by the front, the runners, the client and the tests.
 */
import { ClusterSchema, Entity } from "@effect/cluster"
import { Rpc } from "@effect/rpc"
import { Schema } from "effect"
import { NetCommand, NetCommandGroup } from "hotaru-rt"

const RoomId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64))
const Player = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64))
const Text = Schema.String.pipe(Schema.maxLength(500))

/** `say` by a player who has not joined the room: typed from the entity to the game client. */
export class NotInRoom extends Schema.TaggedError<NotInRoom>()("NotInRoom", {
  room: Schema.String,
  player: Schema.String
}) {
  override get message(): string {
    return `${this.player} is not in room ${this.room}`
  }
}

/**
 * A room, hosted by whichever runner owns its shard. Its state lives in SQL (see runner.ts), so
 * it survives the runner.
 */
export const Room = Entity.make("Room", [
  Rpc.make("Join", {
    payload: { player: Player },
    success: Schema.Struct({ players: Schema.Array(Schema.String), runner: Schema.String })
  }),
  // persisted: stored in the cluster's message table before delivery, so a `say` in flight when
  // its runner dies is delivered by the room's next runner (same request id), never lost
  Rpc.make("Say", {
    payload: { player: Player, text: Text },
    success: Schema.Struct({ seq: Schema.Int, runner: Schema.String }),
    error: NotInRoom
  }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("State", {
    success: Schema.Struct({
      players: Schema.Array(Schema.String),
      seq: Schema.Int,
      runner: Schema.String
    })
  })
])

/** Command 1: `join {room, player}` → `{room, players, runner}`. */
export const Join = NetCommand.json(1, {
  name: "join",
  request: Schema.Struct({ room: RoomId, player: Player }),
  response: Schema.Struct({
    room: Schema.String,
    players: Schema.Array(Schema.String),
    runner: Schema.String
  })
})

/** Command 2: `say {room, player, text}` → `{room, seq, runner}`, or `NotInRoom`. */
export const Say = NetCommand.json(2, {
  name: "say",
  request: Schema.Struct({ room: RoomId, player: Player, text: Text }),
  response: Schema.Struct({ room: Schema.String, seq: Schema.Int, runner: Schema.String }),
  error: NotInRoom
})

/** Command 3: `state {room}` → `{room, players, seq, runner}`. */
export const State = NetCommand.json(3, {
  name: "state",
  request: Schema.Struct({ room: RoomId }),
  response: Schema.Struct({
    room: Schema.String,
    players: Schema.Array(Schema.String),
    seq: Schema.Int,
    runner: Schema.String
  })
})

export const ArenaCommands = NetCommandGroup.make(Join, Say, State)
