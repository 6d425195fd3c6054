/**
 * The bench app's WebSocket node (`bench/servers/hotaruWs.ts`): the commands of
 * `bench/ws/wire.ts` as ordinary hotaru handlers. Fan-out is a `Channel.push` to the channel
 * every `join` puts its connection in; `login` is `Session.bind` (a second login of a player id
 * kicks the older connection, the default policy).
 */
import { Effect, Layer } from "effect"
import { Channel, NetCommand, NetServer, Session } from "hotaru-rt"
import { ECHO, FANOUT, JOIN, LOGIN, MEMORY, memoryReport, PUSH } from "../ws/wire.js"

/** The channel of the fan-out audience. */
const AUDIENCE = "audience"

export const Echo = NetCommand.bytes(ECHO, { name: "echo" })
export const Fanout = NetCommand.bytes(FANOUT, { name: "fanout" })
export const Push = NetCommand.bytes(PUSH, { name: "push" })
export const Join = NetCommand.bytes(JOIN, { name: "join", error: Channel.ChannelRefused })
export const Login = NetCommand.bytes(LOGIN, { name: "login", error: Session.SessionRefused })
export const Memory = NetCommand.bytes(MEMORY, { name: "memory" })

const EMPTY = new Uint8Array(0)

export const WsApp = Layer.mergeAll(
  NetServer.handle(Echo, (body) => Effect.succeed(body)),
  NetServer.handle(Fanout, (body) => Effect.asVoid(Channel.push(AUDIENCE, Push, body))),
  NetServer.handle(Join, () => Effect.as(Channel.join(AUDIENCE), EMPTY)),
  NetServer.handle(Login, (body) => Effect.as(Session.bind(Buffer.from(body).toString("utf8")), body)),
  NetServer.handle(Memory, () => Effect.sync(memoryReport))
)
