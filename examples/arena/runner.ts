/**
 * A runner's app (`"runnerport": …`): hosts the `Room` entities the cluster gives this runner.
 *
 * State that must survive the runner lives in SQL, written inside the handler before it answers:
 * - `arena_rooms.seq` is bumped in the same transaction that records the `say` under the cluster's
 *   request id (`arena_says.request_id UNIQUE`). `Say` is persisted: when a runner dies after
 *   committing but before its reply was stored, the room's new runner delivers the same message
 *   (same id) again, finds the id and answers the committed `seq`: never skipped nor repeated.
 * - players are written through to `arena_players`; players and `seq` are read back when the room
 *   is activated on a runner (after a move, or after `entityMaxIdleTime`), and `State` answers
 *   from that memory (a room lives on one runner at a time: the cluster's shard locks).
 */
import { Entity } from "@effect/cluster"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { Node } from "hotaru-rt"
import { NotInRoom, Room } from "./protocol.js"

/** The arena's tables (MariaDB/MySQL or PostgreSQL; idempotent, every runner runs it at start). */
export const migrate = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS arena_rooms (
    room VARCHAR(64) NOT NULL PRIMARY KEY,
    seq BIGINT NOT NULL
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS arena_players (
    room VARCHAR(64) NOT NULL,
    player VARCHAR(64) NOT NULL,
    PRIMARY KEY (room, player)
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS arena_says (
    room VARCHAR(64) NOT NULL,
    seq BIGINT NOT NULL,
    request_id VARCHAR(32) NOT NULL,
    player VARCHAR(64) NOT NULL,
    text VARCHAR(2000) NOT NULL,
    PRIMARY KEY (room, seq),
    CONSTRAINT arena_says_request UNIQUE (request_id)
  )`
})

const RoomHandlers = Room.toLayer(
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const runner = (yield* Node.NodeInfo).name
    const room = (yield* Entity.CurrentAddress).entityId
    // activation: read the room's state back (it may have lived on another runner before)
    const players = new Set(
      (yield* sql<{ player: string }>`SELECT player FROM arena_players WHERE room = ${room}`.pipe(
        Effect.orDie
      )).map((r) => r.player)
    )
    const seqOf = sql<{ seq: number | string }>`SELECT seq FROM arena_rooms WHERE room = ${room}`.pipe(
      Effect.map((rows) => Number(rows[0]?.seq ?? 0))
    )
    // the last committed seq, for `State` (the room lives on one runner at a time: shard locks)
    let seq = yield* Effect.orDie(seqOf)
    const list = () => [...players].sort()
    return {
      Join: ({ payload }) =>
        Effect.gen(function* () {
          yield* sql.onDialectOrElse({
            pg: () => sql`INSERT INTO arena_players (room, player) VALUES (${room}, ${payload.player})
              ON CONFLICT DO NOTHING`,
            orElse: () =>
              sql`INSERT IGNORE INTO arena_players (room, player) VALUES (${room}, ${payload.player})`
          })
          players.add(payload.player)
          return { players: list(), runner }
        }).pipe(Effect.orDie),
      Say: ({ payload, requestId }) =>
        Effect.gen(function* () {
          if (!players.has(payload.player)) {
            return yield* new NotInRoom({ room, player: payload.player })
          }
          const id = String(requestId)
          const committed = yield* sql.withTransaction(
            Effect.gen(function* () {
              const done = yield* sql<{ seq: number | string }>`
                SELECT seq FROM arena_says WHERE request_id = ${id}`
              if (done.length > 0) return Number(done[0]!.seq)
              yield* sql.onDialectOrElse({
                pg: () => sql`INSERT INTO arena_rooms (room, seq) VALUES (${room}, 1)
                  ON CONFLICT (room) DO UPDATE SET seq = arena_rooms.seq + 1`,
                orElse: () => sql`INSERT INTO arena_rooms (room, seq) VALUES (${room}, 1)
                  ON DUPLICATE KEY UPDATE seq = seq + 1`
              })
              const next = yield* seqOf
              yield* sql`INSERT INTO arena_says (room, seq, request_id, player, text)
                VALUES (${room}, ${next}, ${id}, ${payload.player}, ${payload.text})`
              return next
            })
          )
          seq = Math.max(seq, committed)
          return { seq: committed, runner }
        }).pipe(Effect.catchTag("SqlError", Effect.die)),
      State: () => Effect.succeed({ players: list(), seq, runner })
    }
  })
)

// the tables exist before the first room is activated
export default RoomHandlers.pipe(Layer.provide(Layer.effectDiscard(Effect.orDie(migrate))))
