/**
 * The limits of the client edge and their defaults, and `Settings`: the options of one listener
 * resolved once (times in milliseconds, defaults filled) for the edge's plain-code hot path.
 * A TCP and a WebSocket listener share them.
 */
import { Duration } from "effect"
import type * as NetCommand from "../../NetCommand.js"
import { DEFAULT_MAX_DEPTH } from "./bodyGuard.js"
import * as Frame from "./frame.js"

/**
 * Limits of the client edge. Every one has a default; the config file sets them in a server's
 * `limits` block (times there in seconds). A time of 0 turns that timer off.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  /** Connections open at once on this listener; more are closed at once (default 20,000). */
  readonly maxConnections?: number
  /** Connections open at once from one IP address (default 128). */
  readonly maxConnectionsPerIp?: number
  /** Addresses the per-IP cap does not apply to (default loopback: `127.0.0.1`, `::1`). */
  readonly perIpExempt?: ReadonlyArray<string>
  /**
   * Bytes queued for a client above which the server stops reading from it until they drain
   * (default 64 KiB).
   */
  readonly highWater?: number
  /**
   * Bytes queued for a client beyond which it is kicked as a slow consumer (default 4 MiB). One
   * batch written into an empty queue is always accepted, so replies larger than this still go.
   */
  readonly maxBuffered?: number
  /** A client whose queue stays above `highWater` this long is kicked (default 10 s). */
  readonly sendTimeout?: Duration.DurationInput
  /** A frame whose first byte arrived must be complete within this (default 30 s). */
  readonly frameTimeout?: Duration.DurationInput
  /**
   * A request whose handler has not answered within this is answered a `Timeout` error frame in
   * its place and its handler interrupted (default 30 s; 0: never). Replies leave in request
   * order, so without it one call that never returns would hold every later reply of its
   * connection (and, at `maxInFlight`, its reading). The outcome of a timed-out call is unknown.
   */
  readonly requestTimeout?: Duration.DurationInput
  /** Deepest nesting of arrays/objects accepted in a JSON or msgpack body (default 64). */
  readonly maxDepth?: number
}

/**
 * The defaults of `Limits` and of `idleTimeout` / `maxInFlight`.
 *
 * @since 0.1.0
 * @category utils
 */
export const defaults = {
  maxConnections: 20_000,
  maxConnectionsPerIp: 128,
  perIpExempt: ["127.0.0.1", "::1"] as ReadonlyArray<string>,
  highWater: 64 * 1024,
  maxBuffered: 4 * 1024 * 1024,
  sendTimeout: Duration.seconds(10),
  frameTimeout: Duration.seconds(30),
  requestTimeout: Duration.seconds(30),
  maxDepth: DEFAULT_MAX_DEPTH,
  idleTimeout: Duration.seconds(60),
  maxInFlight: 32,
  resumeBuffer: 256,
  resumeBufferBytes: 1024 * 1024,
  resumeDrain: Duration.seconds(3)
} as const

/**
 * Session resume (off unless `window` is set): a bound session whose connection drops is kept
 * for `window`, with the last frames it was sent, for a client that comes back with its resume
 * token (see `Session`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ResumeOptions {
  /** How long a dropped session waits for its client (0: resume off). */
  readonly window: Duration.DurationInput
  /** Frames kept per session for the replay (default 256); a client that missed more resyncs. */
  readonly buffer?: number
  /** Bytes kept per session for the replay (default 1 MiB; keep it below `maxBuffered`). */
  readonly bufferBytes?: number
  /**
   * On a graceful stop (the node's scope closing), how long the edge keeps serving handovers of
   * its sessions before it ends them (default 3 s, at most `window`; 0: no drain): it stops
   * accepting, parks every bound session (closing its connection, so its client reconnects
   * elsewhere) and waits until another front took them all or this time passed. Under a master,
   * the sessions left then go to it, held for the rest of their window.
   */
  readonly drain?: Duration.DurationInput
}

/**
 * What a listener's options say about the edge (all but where it listens).
 *
 * @since 0.1.0
 * @category models
 */
export interface EdgeOptions {
  /** Node name used in log annotations. */
  readonly node?: string
  readonly frame?: Partial<Frame.FrameOptions>
  /** Close a connection that sent nothing (and waits for nothing) this long (default 60 s; 0: never). */
  readonly idleTimeout?: Duration.DurationInput
  /** Requests of one connection handled at once; parsing and reading pause there (default 32). */
  readonly maxInFlight?: number
  /** Limits of the edge (each has a default). */
  readonly limits?: Limits
  /**
   * Put internal error text (handler failure messages, defects, encode errors) in error frames.
   * For development only (default false: the `error` kind, the typed error's `tag`, no text).
   */
  readonly debugErrors?: boolean
  /** Session resume (default off). */
  readonly resume?: ResumeOptions
}

/** `EdgeOptions` resolved: every default filled, times in milliseconds (0: that timer is off). */
export interface Settings {
  readonly node: string
  readonly frame: Frame.FrameOptions
  readonly maxInFlight: number
  readonly idleMillis: number
  readonly frameMillis: number
  readonly sendMillis: number
  readonly requestMillis: number
  readonly maxConnections: number
  readonly maxPerIp: number
  readonly exempt: ReadonlySet<string>
  readonly highWater: number
  readonly maxBuffered: number
  readonly decodeOptions: NetCommand.DecodeOptions
  readonly debugErrors: boolean
  /** Session resume: its window (0: off) and the bounds of each session's replay ring. */
  readonly resumeMillis: number
  readonly resumeFrames: number
  readonly resumeBytes: number
  /** The graceful stop's drain of parked sessions (0: none; at most the window). */
  readonly drainMillis: number
}

const millisOf = (d: Duration.DurationInput): number => {
  const ms = Duration.toMillis(d)
  return Number.isFinite(ms) && ms > 0 ? ms : 0
}

/** Resolve a listener's edge options once. */
export const settings = (options: EdgeOptions): Settings => {
  const limits = options.limits ?? {}
  return {
    node: options.node ?? "net",
    frame: Frame.frameOptions(options.frame),
    maxInFlight: options.maxInFlight ?? defaults.maxInFlight,
    idleMillis: millisOf(options.idleTimeout ?? defaults.idleTimeout),
    frameMillis: millisOf(limits.frameTimeout ?? defaults.frameTimeout),
    sendMillis: millisOf(limits.sendTimeout ?? defaults.sendTimeout),
    requestMillis: millisOf(limits.requestTimeout ?? defaults.requestTimeout),
    maxConnections: limits.maxConnections ?? defaults.maxConnections,
    maxPerIp: limits.maxConnectionsPerIp ?? defaults.maxConnectionsPerIp,
    exempt: new Set(limits.perIpExempt ?? defaults.perIpExempt),
    highWater: limits.highWater ?? defaults.highWater,
    maxBuffered: limits.maxBuffered ?? defaults.maxBuffered,
    decodeOptions: { maxDepth: limits.maxDepth ?? defaults.maxDepth },
    debugErrors: options.debugErrors ?? false,
    resumeMillis: options.resume === undefined ? 0 : millisOf(options.resume.window),
    resumeFrames: Math.max(1, options.resume?.buffer ?? defaults.resumeBuffer),
    resumeBytes: Math.max(1, options.resume?.bufferBytes ?? defaults.resumeBufferBytes),
    drainMillis:
      options.resume === undefined
        ? 0
        : Math.min(millisOf(options.resume.window), millisOf(options.resume.drain ?? defaults.resumeDrain))
  }
}
