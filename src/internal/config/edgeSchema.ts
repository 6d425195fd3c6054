/**
 * The Schemas of a server's listener settings: `frame` and `limits` of its netport, `http` of
 * its webport (and of the master's admin web).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Byte, Bytes, Count, described, opt, PositiveNumber, Seconds, Str, UInt32 } from "./primitives.js"
/**
 * The client frame settings of a `netport` (hotaru key `frame`): the four head bytes and the two
 * versions every frame must carry, and the largest body length accepted (default 1 MiB).
 *
 * @since 0.1.0
 * @category utils
 */
export const FrameConfig = Schema.Struct({
  head: opt(described(Schema.Tuple(Byte, Byte, Byte, Byte), "four bytes 0-255")),
  protoVersion: opt(Byte),
  serverVersion: opt(UInt32),
  maxLength: opt(described(Schema.Int.pipe(Schema.between(4, 0x7fffffff)), "a length 4..2^31-1"))
})
export type FrameConfig = typeof FrameConfig.Type

/**
 * hotaru's `http` block (per server for its `webport`, and on the master for its admin web):
 * limits of the HTTP listener. Defaults: 256 connections, headers within 10 s, the whole request
 * within 30 s, bodies up to 1 MiB (64 KiB on the master's admin web).
 *
 * @since 0.1.0
 * @category utils
 */
export const HttpConfig = Schema.Struct({
  /** Open connections at once; more are closed as they arrive (default 256). */
  maxConnections: opt(described(Schema.Int.pipe(Schema.between(1, 1000000)), "an integer 1-1000000")),
  /** Seconds a client may take to send the request headers (default 10). */
  headersTimeout: opt(PositiveNumber),
  /** Seconds a client may take to send the whole request, body included (default 30). */
  requestTimeout: opt(PositiveNumber),
  /** Largest request body in bytes; larger gets a 413 (default 1 MiB; admin web 64 KiB). */
  maxBodyBytes: opt(described(Schema.Int.pipe(Schema.between(0, 0x7fffffff)), "a byte count"))
})
export type HttpConfig = typeof HttpConfig.Type

/**
 * hotaru's `limits` block of a server: the limits of its client edge (`netport`). Every key is
 * optional; times are seconds, 0 turns a timer off.
 *
 * - `maxConnections` (20000): connections open at once; more are closed at once (counted, logged
 *   rate-limited).
 * - `maxConnectionsPerIp` (128): connections open at once from one IP address.
 * - `perIpExempt` (`["127.0.0.1", "::1"]`): addresses the per-IP cap does not apply to (a local
 *   proxy or load tool).
 * - `highWater` (65536 bytes): bytes queued for a client above which the server stops reading
 *   from it until they drain.
 * - `maxBuffered` (4194304 bytes): bytes queued for a client beyond which it is kicked as a slow
 *   consumer.
 * - `sendTimeout` (10): seconds a client may stay above `highWater` before it is kicked.
 * - `frameTimeout` (30): seconds a started frame has to complete (slowloris).
 * - `requestTimeout` (30): seconds a request may wait for its handler before it is answered a
 *   `Timeout` error frame in its place (and its handler interrupted), so the replies behind it go.
 * - `maxDepth` (64): deepest nesting of arrays/objects accepted in a JSON or msgpack body.
 *
 * @since 0.1.0
 * @category utils
 */
export const LimitsConfig = Schema.Struct({
  maxConnections: opt(Count),
  maxConnectionsPerIp: opt(Count),
  perIpExempt: opt(described(Schema.Array(Str), "a list of addresses", false)),
  highWater: opt(Bytes),
  maxBuffered: opt(Bytes),
  sendTimeout: opt(Seconds),
  frameTimeout: opt(Seconds),
  requestTimeout: opt(Seconds),
  maxDepth: opt(described(Schema.Int.pipe(Schema.between(1, 10_000)), "an integer 1-10000"))
})
export type LimitsConfig = typeof LimitsConfig.Type

/**
 * hotaru's `ws` block of a server: the WebSocket listener (`wsport`) beside the netport's frame
 * and limits, which it shares.
 *
 * @since 0.1.0
 * @category utils
 */
export const WsConfig = Schema.Struct({
  /** Origins a browser may connect from (its `Origin` header); absent: any. */
  origins: opt(described(Schema.Array(Str), "a list of origins such as https://game.example", false)),
  /** Pings a client may send in ten seconds before it is closed (default 50). */
  maxPings: opt(described(Schema.Int.pipe(Schema.between(1, 100_000)), "an integer 1-100000")),
  /** Serve `wss://`: PEM files of the certificate chain and key, relative to the config's directory. */
  tls: opt(Schema.Struct({ cert: Str, key: Str }))
})
export type WsConfig = typeof WsConfig.Type

/**
 * hotaru's `resume` block of a server: session resume on its client edge (netport and wsport).
 * Off unless the block is there.
 *
 * - `window` (seconds): how long a bound session whose connection dropped waits for its client
 *   to come back with its resume token.
 * - `buffer` (256): frames kept per session for the replay; a client that missed more resyncs
 *   (logs in again).
 * - `bufferBytes` (1048576): bytes kept per session for the replay (keep it below
 *   `limits.maxBuffered`).
 * - `drain` (3, at most `window`; 0: none): on a graceful stop of a node linked to a master, how
 *   many seconds its edge keeps its sessions, parked, for the other fronts to take (their clients
 *   reconnect there); ends early once none is left. The sessions left then go to the master,
 *   which holds them for the rest of their window (a front with no other front in the file hands
 *   them over at once). Keep it below
 *   `supervisor.graceSeconds` (the stop waits at most one second less than that grace).
 *
 * @since 0.1.0
 * @category utils
 */
export const ResumeConfig = Schema.Struct({
  window: described(Schema.Number.pipe(Schema.between(1, 86_400)), "a number of seconds 1-86400"),
  buffer: opt(Count),
  bufferBytes: opt(Bytes),
  drain: opt(described(Schema.Number.pipe(Schema.between(0, 86_400)), "a number of seconds 0-86400"))
})
export type ResumeConfig = typeof ResumeConfig.Type
