/**
 * The player commands the session tests share: log in (bind), who am I, tell another player
 * (a push by uid), the push itself, and kick by uid.
 */
import { Schema } from "effect"
import * as NetCommand from "../../src/NetCommand.js"
import * as Session from "../../src/Session.js"

export const Login = NetCommand.text(1, { error: Session.SessionRefused })
export const WhoAmI = NetCommand.text(2)
export const Tell = NetCommand.json(3, {
  request: Schema.Struct({ to: Schema.String, text: Schema.String }),
  response: Schema.Boolean
})
export const Told = NetCommand.text(4)
export const Kick = NetCommand.json(5, { request: Schema.String, response: Schema.Boolean })
