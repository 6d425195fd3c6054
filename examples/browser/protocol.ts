/**
 * The tap game's protocol: JSON commands in firefly's frame, over WebSocket. Shared by the front
 * (front.ts), the page (page/game.ts, bundled for the browser) and the test: so it imports
 * `hotaru-rt/client` (browser-safe), not `hotaru-rt`.
 */
import { Schema } from "effect"
import { NetCommand, SessionRefused } from "hotaru-rt/client"

const Name = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,24}$/))

/** One player on the board. */
export const Player = Schema.Struct({ name: Name, taps: Schema.Int })

/** Every player's taps, most first. */
export const Board = Schema.Array(Player)
export type Board = typeof Board.Type

/** Command 1: `join name` → the board. Binds the connection to the player; a name in use is refused. */
export const Join = NetCommand.json(1, {
  name: "join",
  request: Name,
  response: Board,
  error: SessionRefused
})

/** Command 2: `tap` → the player's taps after this one. Every player gets the new board (command 3). */
export const Tap = NetCommand.json(2, { name: "tap", request: Schema.Null, response: Schema.Int })

/** Command 3, a push to the `board` channel: the board after a join or a tap. */
export const BoardPush = NetCommand.json(3, { name: "board", request: Schema.Null, response: Board })
