/**
 * The TCP transport (node:net or node:tls, uint32 BE length + msgpack frames,
 * Nagle off): listening and dialing, each scoped. The links themselves are
 * `tcpLink.ts`.
 *
 * @internal
 */
import * as Net from "node:net"
import * as Tls from "node:tls"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import {
  type Address,
  addressKey,
  type Link,
  type Listener,
  TransportError,
  type TransportShape
} from "./link.js"
import { type Limits, TcpLink, type TcpOptions, type TlsOptions, tcpDefaults } from "./tcpLink.js"

/** What `listen` and `dial` of one TCP transport share. */
interface TcpContext {
  readonly limits: Limits
  readonly tls: TlsOptions | undefined
  /** The TLS handshake timeout, in milliseconds. */
  readonly handshakeTimeout: number
  /** The next link id (unique per transport). */
  readonly nextId: () => number
}

/** The TCP transport (node:net or node:tls, uint32 BE length + msgpack frames, Nagle off). */
export const makeTcp = (options?: TcpOptions): TransportShape => {
  let counter = 1
  const context: TcpContext = {
    limits: {
      maxFrameBytes: options?.maxFrameBytes ?? tcpDefaults.maxFrameBytes,
      helloFrameBytes: options?.helloFrameBytes ?? tcpDefaults.helloFrameBytes,
      maxDepth: options?.maxDepth ?? tcpDefaults.maxDepth,
      highWaterBytes: options?.highWaterBytes ?? tcpDefaults.highWaterBytes,
      maxQueuedBytes: options?.maxQueuedBytes ?? tcpDefaults.maxQueuedBytes
    },
    tls: options?.tls,
    handshakeTimeout: Duration.toMillis(
      Duration.decode(options?.handshakeTimeout ?? tcpDefaults.handshakeTimeout)
    ),
    nextId: () => counter++
  }
  return {
    listen: (address) => listen(context, address),
    dial: (address) => dial(context, address)
  }
}

const listen = (
  { handshakeTimeout, limits, nextId, tls }: TcpContext,
  address: Address
): Effect.Effect<Listener, TransportError, Scope.Scope> =>
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
        nextId(),
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

const dial = (
  { limits, nextId, tls }: TcpContext,
  address: Address
): Effect.Effect<Link, TransportError, Scope.Scope> =>
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
        resume(Effect.fail(new TransportError({ reason: "DialFailed", address: addressKey(address), cause })))
      }
      socket.once("error", onError)
      socket.once(tls === undefined ? "connect" : "secureConnect", () => {
        socket.off("error", onError)
        resume(Effect.succeed(new TcpLink(nextId(), addressKey(address), socket, limits)))
      })
      return Effect.sync(() => socket.destroy())
    }),
    (link) => link.close
  )
