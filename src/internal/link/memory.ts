/**
 * The in-memory transport: every node in one process, messages handed over
 * as values (no serialization, no copy), each direction pumped in order by
 * one fiber; with fault injection (`MemoryNetworkShape`: cut / block / delay).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import {
  type Address,
  addressKey,
  BaseLink,
  type Link,
  type Listener,
  type MemoryNetworkShape,
  TransportError,
  type TransportShape
} from "./link.js"

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
