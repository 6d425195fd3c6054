/**
 * The client's TCP connection in a browser bundle: there is none. `package.json`'s `browser` map
 * puts this module in `tcpWire`'s place, so a bundle for the web pulls in no `node:net`;
 * `Client.connect` fails with a `Connect` error naming `connectWebSocket`.
 */
import { Effect } from "effect"
import type { OpenWire } from "./wire.js"

/** No TCP in a browser: fails at once. */
export const open =
  (host: string, port: number): OpenWire =>
  () =>
    Effect.fail(`${host}:${port}: no TCP in a browser: use Client.connectWebSocket (a node's wsport)`)
