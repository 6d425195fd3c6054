/**
 * One client connection of the edge, in plain code: no fiber, scope or timer per connection (an
 * idle connection costs little more than its socket), whatever the transport.
 */
import type { Effect, Fiber, Tracer } from "effect"
import type * as Frame from "./frame.js"
import type { Route } from "./router.js"
import type { Connection } from "./service.js"

/**
 * What the edge needs of a transport's connection: a `node:net` Socket is one as it is; a
 * WebSocket is one through a small adapter. `write` returns false once the queue is past the
 * transport's high-water mark (then `drain` comes when it empties).
 */
export interface Wire {
  readonly destroyed: boolean
  /** Bytes written and not yet sent. */
  readonly writableLength: number
  write(bytes: Uint8Array): boolean
  /** Stop / start reading. */
  pause(): unknown
  resume(): unknown
  /** Close now, dropping what is queued. */
  destroy(): unknown
  /** Close once what is queued is sent. */
  destroySoon(): void
  once(event: "drain", listener: () => void): unknown
}

/** One request's place in its connection's reply order. */
export interface Slot {
  done: boolean
  out: Buffer | undefined
  /** Gives up the handler's call started without a fiber (`DirectCall`), while it runs. */
  cancel: (() => void) | undefined
  /** The command's span, when the node traces (ended when the slot settles). */
  span: Tracer.Span | undefined
}

/** How a connection forks the handler fibers of one route. */
export type Fork = (effect: Effect.Effect<unknown, unknown>) => Fiber.RuntimeFiber<unknown, unknown>

/** Why a connection does not read: bits of `ConnectionState.hold`. */
export const HOLD_HOOKS = 1
export const HOLD_IN_FLIGHT = 2
export const HOLD_WRITE = 4
export const HOLD_CLOSED = 8

/** A connection's mutable state; replies of one tick leave in one write. */
export class ConnectionState {
  readonly queue: Array<Slot> = []
  head = 0
  inFlight = 0
  /** `HOLD_*` bits: while non-zero, the socket is paused and no frame is parsed. */
  hold = 0
  socketPaused = false
  parsing = false
  /** Queued in the edge's flush list for this tick, with the frames to write. */
  dirty = false
  first: Buffer | undefined = undefined
  rest: Array<Buffer> | undefined = undefined
  closed = false
  /** Counted in the per-IP table. */
  perIp = false
  lastActivity: number
  /** When the unfinished frame in the decoder started (0: none). */
  partialSince = 0
  /** When the socket's queue went above the high-water mark (0: it is not). */
  stalledSince = 0
  /** Bytes of this tick's batch (`first` + `rest`). */
  batchBytes = 0
  onFrame: Frame.OnFrame = () => false
  onDrain: (() => void) | undefined = undefined
  /** The player id the connection is bound to (`Session.bind`); kept after it closes. */
  uid: string | undefined = undefined
  /** The channels the connection is in (`Channel.join`), made at the first join. */
  channels: Set<string> | undefined = undefined
  /** Session data (`Session.set`), made at the first write. */
  data: Map<string, unknown> | undefined = undefined
  /** Per route, how this connection forks its handler fibers; made at the route's first fork. */
  forkers: WeakMap<Route, Fork> | undefined = undefined
  constructor(
    readonly info: Connection,
    readonly socket: Wire,
    readonly decoder: Frame.Decoder,
    now: number
  ) {
    this.lastActivity = now
  }
}

/** An IPv4-mapped IPv6 address as plain IPv4 (so per-IP limits count one client once). */
export const normalizeAddress = (address: string | undefined): string =>
  address === undefined ? "unknown" : address.startsWith("::ffff:") ? address.slice(7) : address
