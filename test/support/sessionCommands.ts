/**
 * The player commands the session tests share: log in (bind), who am I, tell another player
 * (a push by uid), the push itself, and kick by uid; and their handlers (`sessionHandlers`).
 */
import { Effect, Layer, Option, Schema } from "effect"
import * as NetCommand from "../../src/NetCommand.js"
import * as NetServer from "../../src/NetServer.js"
import * as Session from "../../src/Session.js"

export const Login = NetCommand.text(1, { error: Session.SessionRefused })
export const WhoAmI = NetCommand.text(2)
export const Tell = NetCommand.json(3, {
  request: Schema.Struct({ to: Schema.String, text: Schema.String }),
  response: Schema.Boolean
})
export const Told = NetCommand.text(4)
export const Kick = NetCommand.json(5, { request: Schema.String, response: Schema.Boolean })

/** The handlers of the commands above, as every session test serves them. */
export const sessionHandlers = Layer.mergeAll(
  NetServer.handle(Login, (uid) => Effect.as(Session.bind(uid), `welcome ${uid}`)),
  NetServer.handle(WhoAmI, () =>
    Effect.map(
      Session.uid,
      Option.getOrElse(() => "nobody")
    )
  ),
  NetServer.handle(Tell, ({ to, text }) => Session.push(to, Told, text)),
  NetServer.handle(Kick, (uid) => Session.kick(uid))
)
