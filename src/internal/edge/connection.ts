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
  /** Its command id, and when it came (the clock's millis): `requestTimeout` counts from it. */
  readonly command: number
  readonly startedAt: number
  /** Its handler's fiber, while it runs (interrupted if the request times out). */
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
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
/** A resumed session waits for the end of the parse that carried its `Resume` frame. */
export const HOLD_RESUME = 16

/** A connection's mutable state; replies of one tick leave in one write. */
/** A connection's frames before the core takes them: none is read. */
const noFrames = () => false

export class ConnectionState {
  readonly queue: Array<Slot> = []
  head = 0
  inFlight = 0
  /** `HOLD_*` bits: while non-zero, the socket is paused and no frame is parsed. */
  hold = 0
  first: Buffer | undefined = undefined
  rest: Array<Buffer> | undefined = undefined
  lastActivity: number
  /** When the unfinished frame in the decoder started (0: none). */
  partialSince = 0
  /** When the socket's queue went above the high-water mark (0: it is not). */
  stalledSince = 0
  /** Bytes of this tick's batch (`first` + `rest`). */
  batchBytes = 0
  /** What a frame of it goes to (one function shared by the edge's connections). */
  onFrame: Frame.OnFrame<ConnectionState> = noFrames
  onDrain: (() => void) | undefined = undefined
  /** The player id the connection is bound to (`Session.bind`); kept after it closes. */
  uid: string | undefined = undefined
  /** The channels the connection is in (`Channel.join`), made at the first join. */
  channels: Set<string> | undefined = undefined
  /** Session data (`Session.set`), made at the first write. */
  data: Map<string, unknown> | undefined = undefined
  /** Per route, how this connection forks its handler fibers; made at the route's first fork. */
  forkers: WeakMap<Route, Fork> | undefined = undefined
  /** Frames written (replies, error frames, pushes; not system frames), since it opened. */
  sentFrames = 0
  /** Request frames received (not system frames), since it opened. */
  requests = 0
  /** Its session can be resumed (bound, resume on): its token and the frames it was sent. */
  resume: Resumable | undefined = undefined
  /** While its session is parked: when the window ends. */
  parkedUntil = 0
  /** This connection resumed that session: its bytes and close go there. */
  movedTo: ConnectionState | undefined = undefined
  /** The wire now carrying it: `wire` at first, a resuming connection's after a resume. */
  socket: Wire
  /** Its current info (a resumed session takes the new connection's address, keeps its id). */
  info: Connection
  /** The connection's yes/no states, one bit each (one field, not seven: idle memory). */
  private flags = 0
  private flag(bit: number, on: boolean) {
    this.flags = on ? this.flags | bit : this.flags & ~bit
  }
  /** The socket is paused (reading stopped). */
  get socketPaused() {
    return (this.flags & 1) !== 0
  }
  set socketPaused(on: boolean) {
    this.flag(1, on)
  }
  get parsing() {
    return (this.flags & 2) !== 0
  }
  set parsing(on: boolean) {
    this.flag(2, on)
  }
  /** Queued in the edge's flush list for this tick, with the frames to write. */
  get dirty() {
    return (this.flags & 4) !== 0
  }
  set dirty(on: boolean) {
    this.flag(4, on)
  }
  get closed() {
    return (this.flags & 8) !== 0
  }
  set closed(on: boolean) {
    this.flag(8, on)
  }
  /** Counted in the per-IP table. */
  get perIp() {
    return (this.flags & 16) !== 0
  }
  set perIp(on: boolean) {
    this.flag(16, on)
  }
  /** Ended on purpose (a kick, a newer login, the edge closing): its session is not parked. */
  get noPark() {
    return (this.flags & 32) !== 0
  }
  set noPark(on: boolean) {
    this.flag(32, on)
  }
  /** It sent a `Resume` frame already (one attempt per connection). */
  get resumeTried() {
    return (this.flags & 64) !== 0
  }
  set resumeTried(on: boolean) {
    this.flag(64, on)
  }
  constructor(
    info: Connection,
    /** The wire this connection was accepted on (the transport's events come from it). */
    readonly wire: Wire,
    public decoder: Frame.Decoder,
    now: number
  ) {
    this.info = info
    this.socket = wire
    this.lastActivity = now
  }
}

/**
 * The resume state of a bound session: its current token, the one it replaced (to tell a reused
 * token), and a bounded ring of the last frames it was sent, sequence-numbered from
 * `ConnectionState.sentFrames`.
 */
export class Resumable {
  private frames: Array<Buffer> = []
  private head = 0
  private bytes = 0
  /** The sequence number of the oldest frame held. */
  first: number
  retired: string | undefined = undefined
  constructor(
    public token: string,
    next: number,
    private readonly maxFrames: number,
    private readonly maxBytes: number
  ) {
    this.first = next
  }

  /** Keep a frame just sent (the oldest go past either bound). */
  record(buf: Buffer): void {
    this.frames.push(buf)
    this.bytes += buf.length
    while (this.frames.length - this.head > this.maxFrames || this.bytes > this.maxBytes) {
      this.bytes -= this.frames[this.head]!.length
      this.frames[this.head] = EMPTY
      this.head++
      this.first++
    }
    if (this.head > 64 && this.head * 2 > this.frames.length) {
      this.frames.splice(0, this.head)
      this.head = 0
    }
  }

  /** The frames from sequence `seq` on, if all are still held. */
  since(seq: number): ReadonlyArray<Buffer> | undefined {
    if (seq < this.first) return undefined
    return this.frames.slice(this.head + (seq - this.first))
  }
}

const EMPTY = Buffer.alloc(0)

/** An IPv4-mapped IPv6 address as plain IPv4 (so per-IP limits count one client once). */
export const normalizeAddress = (address: string | undefined): string =>
  address === undefined ? "unknown" : address.startsWith("::ffff:") ? address.slice(7) : address
