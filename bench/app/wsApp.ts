/**
 * The bench app's WebSocket node (`bench/servers/hotaruWs.ts`): the commands of
 * `bench/ws/wire.ts` as ordinary hotaru handlers. Fan-out is a `Channel.push` to the channel
 * every `join` puts its connection in; `login` is `Session.bind` (a second login of a player id
 * kicks the older connection, the default policy). Made from the hotaru module it is given: the
 * sources (`hotaru-rt` under tsx) or the compiled package (`dist/`, `hotaruWs.ts --from dist`).
 */
import { Duration, Effect, Layer } from "effect"
import type * as Hotaru from "hotaru-rt"
import { ECHO, FANOUT, JOIN, LOGIN, MEMORY, memoryReport, PUSH } from "../ws/wire.js"

/** The channel of the fan-out audience. */
const AUDIENCE = "audience"

const EMPTY = new Uint8Array(0)

/** The handlers, and the `NetServer.serve` layer of the WebSocket-only node on `port`. */
export const serveWsApp = (hotaru: typeof Hotaru, port: number) => {
  const { Channel, NetCommand, NetServer, Session } = hotaru
  const Echo = NetCommand.bytes(ECHO, { name: "echo" })
  const Fanout = NetCommand.bytes(FANOUT, { name: "fanout" })
  const Push = NetCommand.bytes(PUSH, { name: "push" })
  const Join = NetCommand.bytes(JOIN, { name: "join", error: Channel.ChannelRefused })
  const Login = NetCommand.bytes(LOGIN, { name: "login", error: Session.SessionRefused })
  const Memory = NetCommand.bytes(MEMORY, { name: "memory" })
  const app = Layer.mergeAll(
    NetServer.handle(Echo, (body) => Effect.succeed(body)),
    NetServer.handle(Fanout, (body) => Effect.asVoid(Channel.push(AUDIENCE, Push, body))),
    NetServer.handle(Join, () => Effect.as(Channel.join(AUDIENCE), EMPTY)),
    NetServer.handle(Login, (body) => Effect.as(Session.bind(Buffer.from(body).toString("utf8")), body)),
    NetServer.handle(Memory, () => Effect.sync(memoryReport))
  )
  // resume on: a dropped player's session waits 30 s for its client (WS4 resumes it)
  return NetServer.serve(app, {
    webSocket: { host: "127.0.0.1", port },
    node: "ws",
    resume: { window: Duration.seconds(30) }
  })
}
