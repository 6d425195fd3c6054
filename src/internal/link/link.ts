/**
 * Links and the two transports (TCP and in-memory) behind `Transport`.
 *
 * Hot path is plain callbacks: `unsafeSend` queues a message (over TCP packed
 * at once, in place behind its length) and one flush per tick writes them all;
 * received messages go into the link's mailbox until its owner installs a
 * receiver (`unsafeSetReceiver`), then straight to that callback.
 *
 * @internal
 */
import * as Net from "node:net"
import * as Tls from "node:tls"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Mailbox from "effect/Mailbox"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Msgpackr from "msgpackr"
import * as MsgpackWalk from "../wire/msgpackWalk.js"

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
abstract class BaseLink implements Link {
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

// ---------------------------------------------------------------------------
// TCP
// ---------------------------------------------------------------------------

/**
 * TLS material of the TCP transport (`TcpOptions.tls`): PEM text or buffers.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsOptions {
  /** This node's certificate chain. */
  readonly cert: string | Buffer
  /** Its private key. */
  readonly key: string | Buffer
  /** The cluster CA every peer's certificate must chain to (both directions). */
  readonly ca: string | Buffer
}

/**
 * Options of `Transport.layerTcp`: frame limits, write backpressure, TLS.
 *
 * @since 0.1.0
 * @category models
 */
export interface TcpOptions {
  /** Largest frame body of an authenticated link, in bytes; larger closes the link. Default 4 MiB. */
  readonly maxFrameBytes?: number | undefined
  /** Largest frame body before the peer authenticated. Default 4 KiB. */
  readonly helloFrameBytes?: number | undefined
  /** Deepest nesting of arrays and maps in one frame; deeper closes the link. Default 100. */
  readonly maxDepth?: number | undefined
  /** Stop reading from a peer while more than this many bytes wait to be written to it. Default 1 MiB. */
  readonly highWaterBytes?: number | undefined
  /** Close a link ("SlowPeer") whose unwritten bytes exceed this. Default 16 MiB. */
  readonly maxQueuedBytes?: number | undefined
  /** Mutual TLS on every link (listen and dial); off by default. */
  readonly tls?: TlsOptions | undefined
  /** How long a TLS handshake may take. Default 5 seconds. */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
}

/** Resolved limits of TCP links. */
interface Limits {
  readonly maxFrameBytes: number
  readonly helloFrameBytes: number
  readonly maxDepth: number
  readonly highWaterBytes: number
  readonly maxQueuedBytes: number
}

/** Frames a link accepts before its peer authenticated (a handshake needs two). */
const HELLO_FRAMES = 4

/** The defaults of `TcpOptions`. */
export const tcpDefaults = {
  maxFrameBytes: 4 * 1024 * 1024,
  helloFrameBytes: 4 * 1024,
  maxDepth: 100,
  highWaterBytes: 1024 * 1024,
  maxQueuedBytes: 16 * 1024 * 1024,
  handshakeTimeout: Duration.seconds(5)
} as const

/** `pack` option: reserve 4 bytes (the frame's length) in front of the packed message. */
const RESERVE_HEADER = Msgpackr.RESERVE_START_SPACE | 4

/**
 * msgpackr options of link frames: no records, no shared references (the
 * "structured clone" extension), maps as plain objects.
 */
const packrOptions = { useRecords: false, structuredClone: false } as const
const unpackrOptions = { useRecords: false, structuredClone: false, mapsAsObjects: true } as const

/** msgpack extension types accepted in a frame, and whether the value that follows belongs to it. */
export const linkExtensions: MsgpackWalk.ExtensionPolicy = (type) => {
  switch (type) {
    case 0x00: // undefined
    case 0xff: // timestamp (Date)
    case 0x74: // typed arrays
      return false
    case 0x73: // Set: the array that follows
    case 0x65: // Error: the array that follows
      return true
    default:
      // records (0x72), shared references (0x69, 0x70), bundled strings (0x62),
      // RegExp (0x78), big integers (0x42) and unknown types
      return undefined
  }
}

class TcpLink extends BaseLink {
  private readonly packr = new Msgpackr.Packr(packrOptions)
  private readonly unpackr = new Msgpackr.Unpackr(unpackrOptions)
  private readonly stack: Float64Array
  private pending: Array<Buffer> = []
  private pendingBytes = 0
  private scheduled = false
  private paused = false
  private awaitingDrain = false
  /** What the socket held unwritten at the last flush (0 again once it drained). */
  private written = 0
  // partial input: chunks not yet forming a complete frame
  private partial: Array<Buffer> = []
  private partialBytes = 0
  private needed = 4
  // before authentication: the small frame limit and a frame budget
  private frameLimit: number
  private helloFrames = 0
  private authenticated = false

  constructor(
    id: number,
    peer: string,
    private readonly socket: Net.Socket,
    private readonly limits: Limits
  ) {
    super(id, peer)
    this.frameLimit = Math.min(limits.helloFrameBytes, limits.maxFrameBytes)
    this.stack = new Float64Array(limits.maxDepth + 1)
    socket.setNoDelay(true)
    socket.on("data", (chunk: Buffer) => this.onData(chunk))
    socket.on("end", () => this.unsafeClose("PeerClosed"))
    socket.on("close", () => this.unsafeClose("PeerClosed"))
    socket.on("error", (cause) => this.unsafeClose("SocketError", cause))
  }

  override unsafeAuthenticated = (): void => {
    this.authenticated = true
    this.frameLimit = this.limits.maxFrameBytes
  }

  override queuedBytes = (): number =>
    this.pendingBytes + (this.socket.destroyed ? 0 : this.socket.writableLength)

  unsafeSend = (message: unknown): void => {
    if (this.isClosed()) return
    // msgpackr packs successive messages one after the other into its own
    // buffer (never over an earlier result) and leaves the 4 reserved bytes in
    // front of each: the length goes there, no copy
    const frame = this.packr.pack(message, RESERVE_HEADER) as Buffer
    if (frame.length - 4 > this.limits.maxFrameBytes) {
      // the peer would close the link on it: fail this one message instead
      throw new TransportError({
        reason: "FrameTooLarge",
        address: this.peer,
        cause: new Error(
          `a message of ${frame.length - 4} bytes exceeds maxFrameBytes ${this.limits.maxFrameBytes}`
        )
      })
    }
    frame.writeUInt32BE(frame.length - 4, 0)
    this.pending.push(frame)
    this.pendingBytes += frame.length
    if (this.pendingBytes + this.written > this.limits.maxQueuedBytes) {
      this.unsafeClose("SlowPeer")
      return
    }
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
  }

  private flush = (): void => {
    this.scheduled = false
    if (this.pending.length === 0 || this.socket.destroyed) return
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes)
    this.pending = []
    this.pendingBytes = 0
    const flowing = this.socket.write(data)
    this.written = this.socket.writableLength
    if (!flowing) this.congested()
  }

  /** The socket holds unwritten data: past the high-water mark stop reading the peer, past the cap drop it. */
  private congested(): void {
    if (this.written > this.limits.maxQueuedBytes) {
      this.unsafeClose("SlowPeer")
      return
    }
    if (!this.awaitingDrain) {
      this.awaitingDrain = true
      this.socket.once("drain", this.onDrain)
    }
    if (!this.paused && this.written >= this.limits.highWaterBytes) {
      // a peer that does not take our replies gets no more requests read;
      // paused past the heartbeat timeout, the session drops it
      this.paused = true
      this.socket.pause()
    }
  }

  private onDrain = (): void => {
    this.awaitingDrain = false
    this.written = 0
    if (this.paused) {
      this.paused = false
      if (!this.isClosed()) this.socket.resume()
    }
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed()) return
    let buf: Buffer
    if (this.partialBytes > 0) {
      this.partial.push(chunk)
      this.partialBytes += chunk.length
      if (this.partialBytes < this.needed) return
      buf = Buffer.concat(this.partial, this.partialBytes)
      this.partial = []
      this.partialBytes = 0
    } else {
      buf = chunk
    }
    let offset = 0
    while (!this.isClosed()) {
      const remaining = buf.length - offset
      if (remaining < 4) {
        this.needed = 4
        break
      }
      const length = buf.readUInt32BE(offset)
      if (length > this.frameLimit) {
        this.unsafeClose("FrameTooLarge")
        return
      }
      if (remaining < 4 + length) {
        this.needed = 4 + length
        break
      }
      if (!this.authenticated && ++this.helloFrames > HELLO_FRAMES) {
        this.unsafeClose("TooManyFrames")
        return
      }
      const start = offset + 4
      const end = start + length
      const problem = MsgpackWalk.check(buf, start, end, this.limits.maxDepth, this.stack, linkExtensions)
      if (problem !== undefined) {
        this.unsafeClose("BadFrame", new Error(problem.detail))
        return
      }
      let message: unknown
      try {
        // read in place (no per-frame view of the chunk)
        message = this.unpackr.unpack(buf, { start, end })
      } catch (cause) {
        this.unsafeClose("BadFrame", cause)
        return
      }
      offset = end
      this.receive(message)
    }
    if (offset < buf.length && !this.isClosed()) {
      const rest = offset === 0 ? buf : buf.subarray(offset)
      this.partial.push(rest)
      this.partialBytes += rest.length
    }
  }

  protected teardown(graceful: boolean): void {
    if (graceful && !this.socket.destroyed) {
      this.flush()
      this.socket.end()
      this.socket.destroySoon()
    } else {
      this.pending = []
      this.pendingBytes = 0
      this.socket.destroy()
    }
    this.partial = []
  }
}

/** The TCP transport (node:net or node:tls, uint32 BE length + msgpack frames, Nagle off). */
export const makeTcp = (options?: TcpOptions): TransportShape => {
  const limits: Limits = {
    maxFrameBytes: options?.maxFrameBytes ?? tcpDefaults.maxFrameBytes,
    helloFrameBytes: options?.helloFrameBytes ?? tcpDefaults.helloFrameBytes,
    maxDepth: options?.maxDepth ?? tcpDefaults.maxDepth,
    highWaterBytes: options?.highWaterBytes ?? tcpDefaults.highWaterBytes,
    maxQueuedBytes: options?.maxQueuedBytes ?? tcpDefaults.maxQueuedBytes
  }
  const tls = options?.tls
  const handshakeTimeout = Duration.toMillis(
    Duration.decode(options?.handshakeTimeout ?? tcpDefaults.handshakeTimeout)
  )
  let nextId = 1

  const listen = (address: Address): Effect.Effect<Listener, TransportError, Scope.Scope> =>
    Effect.gen(function* () {
      const queue = yield* Queue.unbounded<Link>()
      const live = new Set<Link>()
      const sockets = new Set<Net.Socket>()
      const server: Net.Server =
        tls === undefined
          ? Net.createServer()
          : Tls.createServer({
              cert: tls.cert,
              key: tls.key,
              ca: tls.ca,
              requestCert: true,
              rejectUnauthorized: true,
              handshakeTimeout
            })
      yield* Effect.acquireRelease(
        Effect.async<void, TransportError>((resume) => {
          const onError = (cause: Error) =>
            resume(
              Effect.fail(new TransportError({ reason: "ListenFailed", address: addressKey(address), cause }))
            )
          server.once("error", onError)
          server.listen(address.port, address.host, () => {
            server.off("error", onError)
            resume(Effect.void)
          })
        }),
        () =>
          Effect.async<void>((resume) => {
            for (const link of live) link.unsafeClose("Closed")
            server.close(() => resume(Effect.void))
          }).pipe(
            // a peer that does not read must not hold the shutdown
            Effect.timeoutTo({ duration: "1 second", onSuccess: () => {}, onTimeout: () => {} }),
            Effect.zipRight(
              Effect.sync(() => {
                for (const socket of sockets) socket.destroy()
              })
            ),
            Effect.zipRight(Queue.shutdown(queue))
          )
      )
      server.on("error", () => {})
      // a failed TLS handshake only costs that socket
      server.on("tlsClientError", () => {})
      server.on(tls === undefined ? "connection" : "secureConnection", (socket: Net.Socket) => {
        sockets.add(socket)
        const link = new TcpLink(
          nextId++,
          `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`,
          socket,
          limits
        )
        live.add(link)
        socket.once("close", () => {
          sockets.delete(socket)
          live.delete(link)
        })
        Queue.unsafeOffer(queue, link)
      })
      const bound = server.address()
      const port = typeof bound === "object" && bound !== null ? bound.port : address.port
      return { address: { host: address.host, port }, accept: Stream.fromQueue(queue) }
    })

  const dial = (address: Address): Effect.Effect<Link, TransportError, Scope.Scope> =>
    Effect.acquireRelease(
      Effect.async<Link, TransportError>((resume) => {
        const socket: Net.Socket =
          tls === undefined
            ? Net.connect({ host: address.host, port: address.port })
            : Tls.connect({
                host: address.host,
                port: address.port,
                cert: tls.cert,
                key: tls.key,
                ca: tls.ca,
                rejectUnauthorized: true,
                // membership is the cluster CA's signature (and the secret), not a host name
                checkServerIdentity: () => undefined
              })
        const onError = (cause: Error) => {
          socket.destroy()
          resume(
            Effect.fail(new TransportError({ reason: "DialFailed", address: addressKey(address), cause }))
          )
        }
        socket.once("error", onError)
        socket.once(tls === undefined ? "connect" : "secureConnect", () => {
          socket.off("error", onError)
          resume(Effect.succeed(new TcpLink(nextId++, addressKey(address), socket, limits)))
        })
        return Effect.sync(() => socket.destroy())
      }),
      (link) => link.close
    )

  return { listen, dial }
}

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

const EOF: unique symbol = Symbol("hotaru/link/EOF")

interface MemListener {
  readonly queue: Queue.Queue<Link>
  readonly links: Set<MemLink>
}

interface Hub {
  readonly scope: Scope.Scope
  readonly listeners: Map<string, MemListener>
  readonly blocked: Set<string>
  readonly delays: Map<string, Duration.Duration>
  readonly nextId: () => number
  nextPort: number
}

class MemLink extends BaseLink {
  /** The peer end, set right after construction. */
  other!: MemLink
  /** Outgoing messages (and EOF), pumped to `other` by one fiber. */
  readonly outbox: Queue.Queue<unknown>

  constructor(
    id: number,
    peer: string,
    private readonly onTeardown: () => void
  ) {
    super(id, peer)
    this.outbox = Effect.runSync(Queue.unbounded<unknown>())
  }

  unsafeSend = (message: unknown): void => {
    if (!this.isClosed()) Queue.unsafeOffer(this.outbox, message)
  }

  deliver(message: unknown): void {
    this.receive(message)
  }

  protected teardown(graceful: boolean): void {
    if (graceful) {
      // the peer sees every message sent so far, then EOF
      Queue.unsafeOffer(this.outbox, EOF)
    } else {
      Effect.runFork(Queue.shutdown(this.outbox))
      this.other.unsafeClose("Cut")
    }
    this.onTeardown()
  }
}

/** The memory transport and its fault-injection controls; lives in the given scope. */
export const makeMemory: Effect.Effect<
  { readonly transport: TransportShape; readonly network: MemoryNetworkShape },
  never,
  Scope.Scope
> = Effect.gen(function* () {
  const scope = yield* Effect.scope
  let counter = 1
  const hub: Hub = {
    scope,
    listeners: new Map(),
    blocked: new Set(),
    delays: new Map(),
    nextId: () => counter++,
    nextPort: 1
  }

  /** One direction: from `from.outbox` into `to`'s mailbox, in order, delayed if asked. */
  const pump = (from: MemLink, to: MemLink, key: string): Effect.Effect<void> =>
    Effect.gen(function* () {
      while (true) {
        const batch = yield* Queue.takeBetween(from.outbox, 1, Number.POSITIVE_INFINITY)
        const delay = hub.delays.get(key)
        if (delay !== undefined) yield* Effect.sleep(delay)
        for (const message of batch) {
          if (message === EOF) {
            to.unsafeClose("PeerClosed")
            return
          }
          to.deliver(message)
        }
      }
    }).pipe(Effect.interruptible)

  const dial = (address: Address): Effect.Effect<Link, TransportError, Scope.Scope> => {
    const key = addressKey(address)
    return Effect.acquireRelease(
      Effect.gen(function* () {
        const listener = hub.listeners.get(key)
        if (listener === undefined || hub.blocked.has(key)) {
          return yield* new TransportError({
            reason: "DialFailed",
            address: key,
            cause: new Error(listener === undefined ? "connection refused" : "blocked")
          })
        }
        const id = hub.nextId()
        let pair: MemLink | undefined
        const client: MemLink = new MemLink(id, key, () => {
          if (pair !== undefined) listener.links.delete(pair)
        })
        const server: MemLink = new MemLink(hub.nextId(), `memory-client-${id}`, () => {})
        pair = client
        client.other = server
        server.other = client
        listener.links.add(client)
        yield* Effect.forkIn(pump(client, server, key), hub.scope)
        yield* Effect.forkIn(pump(server, client, key), hub.scope)
        Queue.unsafeOffer(listener.queue, server)
        return client as Link
      }),
      (link) => link.close
    )
  }

  const listen = (address: Address): Effect.Effect<Listener, TransportError, Scope.Scope> =>
    Effect.gen(function* () {
      let port = address.port
      if (port === 0) {
        while (hub.listeners.has(addressKey({ host: address.host, port: hub.nextPort }))) hub.nextPort++
        port = hub.nextPort++
      }
      const bound = { host: address.host, port }
      const key = addressKey(bound)
      if (hub.listeners.has(key)) {
        return yield* new TransportError({
          reason: "ListenFailed",
          address: key,
          cause: new Error("address in use")
        })
      }
      const queue = yield* Queue.unbounded<Link>()
      const listener: MemListener = { queue, links: new Set() }
      hub.listeners.set(key, listener)
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          hub.listeners.delete(key)
          for (const link of [...listener.links]) link.unsafeClose("Closed")
          return Queue.shutdown(queue)
        })
      )
      return { address: bound, accept: Stream.fromQueue(queue) }
    })

  const cutAll = (key: string) => {
    const listener = hub.listeners.get(key)
    if (listener !== undefined) for (const link of [...listener.links]) link.unsafeClose("Cut")
  }

  const network: MemoryNetworkShape = {
    cut: (address) => Effect.sync(() => cutAll(addressKey(address))),
    block: (address) =>
      Effect.sync(() => {
        hub.blocked.add(addressKey(address))
        cutAll(addressKey(address))
      }),
    unblock: (address) => Effect.sync(() => void hub.blocked.delete(addressKey(address))),
    delay: (address, duration) =>
      Effect.sync(() => {
        const d = Duration.decode(duration)
        if (Duration.toMillis(d) <= 0) hub.delays.delete(addressKey(address))
        else hub.delays.set(addressKey(address), d)
      })
  }

  return { transport: { listen, dial }, network }
})
