/**
 * `hotaru-rt/client`: what a game client imports, in Node or in a browser bundle (no Node
 * built-in on the browser path: see `package.json`'s `browser` map). The `Client` module itself
 * (`connect`, `connectWebSocket`, `reconnecting`, …), the command definitions (`NetCommand`, so
 * a protocol module shared with the server bundles for the browser too), and the wire errors a
 * command may declare (`SessionRefused`, `ChannelRefused`), and `ResumeRefused` (why a session
 * resume was refused).
 *
 * ```ts
 * import * as Client from "hotaru-rt/client"
 * export const Join = Client.NetCommand.json(1, { request: Name, response: Board, error: Client.SessionRefused })
 * ```
 *
 * @since 0.1.0
 */
export * from "./Client.js"
export { ChannelRefused } from "./internal/edge/channels.js"
export { ResumeRefused } from "./internal/edge/resumeWire.js"
export { SessionRefused } from "./internal/edge/sessions.js"
export * as NetCommand from "./NetCommand.js"
