/**
 * Links: the `Link` a transport hands out, its `TransportError`, the
 * `Transport` / `MemoryNetwork` shapes, and the bookkeeping both transports
 * share (`BaseLink`). The transports: `tcp.ts` (over `tcpLink.ts`, framed by
 * `frameCodec.ts`) and `memory.ts`.
 *
 * Hot path is plain callbacks: `unsafeSend` queues a message (over TCP packed
 * at once, in place behind its length) and one flush per tick writes them all;
 * received messages go into the link's mailbox until its owner installs a
 * receiver (`unsafeSetReceiver`), then straight to that callback.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Mailbox from "effect/Mailbox"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"

/**
 * Why a transport operation failed or why a link closed.
 *
 * @since 0.1.0
 * @category errors
 */
export type TransportErrorReason =
  | "ListenFailed"
  | "DialFailed"
  | "Closed"
  | "PeerClosed"
  | "SocketError"
  | "FrameTooLarge"
  | "BadFrame"
  | "Cut"
  | "HeartbeatTimeout"
  | "SlowPeer"
  | "TooManyFrames"

/**
 * A local transport failure (not sent over the wire); `reason` says which.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Data.TaggedError("TransportError")<{
  readonly reason: TransportErrorReason
  readonly address: string
  readonly cause?: unknown
}> {
  override get message(): string {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `transport ${this.reason} (${this.address})${detail}`
  }
}

/**
 * A host and port. Port 0 on `listen` means "pick a free one".
 *
 * @since 0.1.0
 * @category models
 */
export interface Address {
  readonly host: string
  readonly port: number
}

/** `host:port`. */
export const addressKey = (address: Address): string => `${address.host}:${address.port}`

/**
 * A bidirectional pipe of structured messages (JSON-like values and
 * `Uint8Array`s). Over TCP every message is one msgpack frame; in memory the
 * values themselves are handed over (no copy: do not mutate what you sent).
 *
 * @since 0.1.0
 * @category models
 */
export interface Link {
  /** Unique per Transport instance. */
  readonly id: number
  /** The remote end, for messages. */
  readonly peer: string
  /**
   * Queue one message. Synchronous; sends within the same tick are coalesced
   * into one write. Silently dropped once the link is closed.
   */
  readonly unsafeSend: (message: unknown) => void
  /**
   * Received messages, in order; done (after the last message) when the link
   * closes. Empty for good once `unsafeSetReceiver` was called.
   */
  readonly incoming: Mailbox.ReadonlyMailbox<unknown>
  /**
   * From now on hand every received message straight to `receiver`, on the
   * transport's own callback (no fiber in between), starting with the ones
   * already queued in `incoming`. `incoming` still ends when the link closes.
   * For the one consumer that owns the link; call it at most once.
   */
  readonly unsafeSetReceiver: (receiver: (message: unknown) => void) => void
  /**
   * The peer proved it holds the cluster secret: lift the pre-authentication
   * limits (frame size, frame count) to the link's normal ones. Until this is
   * called a TCP link accepts only a few tiny frames.
   */
  readonly unsafeAuthenticated: () => void
  /** Bytes queued for the peer and not yet taken by the socket (0 in memory). */
  readonly queuedBytes: () => number
  /** Waits until the link is closed; yields why. */
  readonly closed: Effect.Effect<TransportError>
  /** Whether the link is closed. */
  readonly isClosed: () => boolean
  /**
   * Close the link. Pending sends are flushed first (the peer sees them, then
   * EOF) unless `reason` says the link is broken ("Cut", "HeartbeatTimeout").
   */
  readonly unsafeClose: (reason?: TransportErrorReason) => void
  /** `unsafeClose` as an Effect. */
  readonly close: Effect.Effect<void>
}

/**
 * A bound listener: its actual `address` and the `accept` stream of links.
 *
 * @since 0.1.0
 * @category models
 */
export interface Listener {
  /** The bound address (port 0 resolved). */
  readonly address: Address
  /** Accepted links, each once. Links live until closed or the listener's scope closes. */
  readonly accept: Stream.Stream<Link>
}

/**
 * The `Transport` service: listens and dials. Both operations are scoped:
 * closing the scope closes the listener (and every link it accepted) or the
 * dialed link.
 *
 * @since 0.1.0
 * @category models
 */
export interface TransportShape {
  readonly listen: (address: Address) => Effect.Effect<Listener, TransportError, Scope.Scope>
  readonly dial: (address: Address) => Effect.Effect<Link, TransportError, Scope.Scope>
}

/**
 * The `MemoryNetwork` service: fault injection of the memory transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryNetworkShape {
  /** Close every live link to the listener at `address` (both ends see "Cut"). */
  readonly cut: (address: Address) => Effect.Effect<void>
  /** Dials to `address` fail with `DialFailed` and live links are cut, until `unblock`. */
  readonly block: (address: Address) => Effect.Effect<void>
  /** Undo `block`. */
  readonly unblock: (address: Address) => Effect.Effect<void>
  /**
   * Delay every message on links to `address` (both directions) by `duration`
   * (uses `Effect.sleep`, so `TestClock` drives it). `Duration.zero` clears it.
   */
  readonly delay: (address: Address, duration: Duration.DurationInput) => Effect.Effect<void>
}

/** Link bookkeeping shared by both transports. */
export abstract class BaseLink implements Link {
  readonly incoming: Mailbox.Mailbox<unknown>
  private readonly done: Deferred.Deferred<TransportError>
  private closedReason: TransportError | undefined = undefined
  private receiver: ((message: unknown) => void) | undefined = undefined
  readonly closed: Effect.Effect<TransportError>
  readonly close: Effect.Effect<void>

  constructor(
    readonly id: number,
    readonly peer: string
  ) {
    this.incoming = Effect.runSync(Mailbox.make<unknown>())
    this.done = Deferred.unsafeMake<TransportError>(FiberId.none)
    this.closed = Deferred.await(this.done)
    this.close = Effect.sync(() => this.unsafeClose())
  }

  isClosed = (): boolean => this.closedReason !== undefined

  unsafeAuthenticated = (): void => {}

  queuedBytes = (): number => 0

  abstract unsafeSend: (message: unknown) => void
  protected abstract teardown(graceful: boolean): void

  unsafeClose = (reason: TransportErrorReason = "Closed", cause?: unknown): void => {
    if (this.closedReason !== undefined) return
    const error = new TransportError(
      cause === undefined ? { reason, address: this.peer } : { reason, address: this.peer, cause }
    )
    this.closedReason = error
    this.teardown(reason === "Closed" || reason === "PeerClosed")
    this.incoming.unsafeDone(Exit.void)
    Deferred.unsafeDone(this.done, Exit.succeed(error))
  }

  unsafeSetReceiver = (receiver: (message: unknown) => void): void => {
    const queued = Effect.runSync(this.incoming.clear)
    this.receiver = receiver
    for (const message of queued) receiver(message)
  }

  /** Deliver one received message. */
  protected receive(message: unknown): void {
    if (this.closedReason !== undefined) return
    if (this.receiver !== undefined) this.receiver(message)
    else this.incoming.unsafeOffer(message)
  }
}
