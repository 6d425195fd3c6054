/**
 * The @effect/cluster runner transport behind hotaru's handshake: the cluster's own socket
 * protocol (`SocketRunner`, `RpcClient.makeProtocolSocket`), but no byte of it is read from a
 * peer, or sent to one, before both sides proved they hold the cluster secret.
 *
 * | step | bytes                              | direction         |
 * |------|------------------------------------|-------------------|
 * | 1    | `nonceA` (32)                      | runner → dialer   |
 * | 2    | `nonceD` (32) `proofD` (32)        | dialer → runner   |
 * | 3    | `proofA` (32)                      | runner → dialer   |
 *
 * The proofs are the node links' (`handshake.proof`, HMAC-SHA256 over both nonces, the role and
 * the names `@runner-dialer` / `@runner`), so a proof from a link handshake is worth nothing here
 * and a recorded exchange replays nowhere. The runner reads exactly 64 bytes before the cluster
 * sees the socket, within `helloTimeout`, with at most `maxPending` handshakes at a time; a peer
 * that fails is closed. Without a secret the exchange runs over the public key (it
 * authenticates nothing, which is why such a runner stays on loopback).
 *
 * @internal
 */

import type * as Net from "node:net"
import { createConnection } from "node:net"
import type * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as Runners from "@effect/cluster/Runners"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as RpcClient from "@effect/rpc/RpcClient"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Secret } from "../config/secret.js"
import { NONCE_BYTES, nonce, proof, verify } from "../link/handshake.js"
import * as PersistedFallback from "./persistedFallback.js"

const DIALER = "@runner-dialer"
const ACCEPTOR = "@runner"

export interface Options {
  readonly secret: Secret | undefined
  /** Deadline of one handshake (default 5 s). */
  readonly helloTimeout?: Duration.DurationInput | undefined
  /** Handshakes in progress at once on a runner; more connections are closed at once (default 256). */
  readonly maxPending?: number | undefined
}

/** Why a runner-socket handshake ended without a link (the socket is closed). */
class HandshakeFailed extends Data.TaggedError("HandshakeFailed")<{ readonly reason: string }> {}

/** Exactly `n` bytes from a paused socket (the rest stays buffered for whoever reads next). */
const readExactly = (conn: Net.Socket, n: number): Effect.Effect<Buffer, HandshakeFailed> =>
  Effect.async<Buffer, HandshakeFailed>((resume) => {
    const cleanup = () => {
      conn.off("readable", onReadable)
      conn.off("end", onEnd)
      conn.off("close", onEnd)
      conn.off("error", onError)
    }
    const onReadable = () => {
      const chunk: Buffer | null = conn.read(n)
      if (chunk === null) return
      cleanup()
      resume(Effect.succeed(chunk))
    }
    const onEnd = () => {
      cleanup()
      resume(
        Effect.fail(new HandshakeFailed({ reason: "the peer closed the connection during the handshake" }))
      )
    }
    const onError = (e: Error) => {
      cleanup()
      resume(Effect.fail(new HandshakeFailed({ reason: `socket error during the handshake: ${e.message}` })))
    }
    conn.on("readable", onReadable)
    conn.on("end", onEnd)
    conn.on("close", onEnd)
    conn.on("error", onError)
    onReadable()
    return Effect.sync(cleanup)
  })

const write = (conn: Net.Socket, bytes: Uint8Array): Effect.Effect<void> =>
  Effect.sync(() => {
    if (!conn.destroyed) conn.write(bytes)
  })

/** The runner's side: succeeds when the dialer proved the secret (and got the runner's proof). */
const acceptHandshake = (
  conn: Net.Socket,
  secret: Secret | undefined
): Effect.Effect<void, HandshakeFailed> =>
  Effect.gen(function* () {
    const nonceA = nonce()
    yield* write(conn, nonceA)
    const answer = yield* readExactly(conn, NONCE_BYTES * 2)
    const nonceD = answer.subarray(0, NONCE_BYTES)
    const proofD = answer.subarray(NONCE_BYTES)
    if (!verify(proof(secret, "dialer", nonceD, nonceA, DIALER, ACCEPTOR), proofD)) {
      return yield* Effect.fail(
        new HandshakeFailed({ reason: "the dialer's proof does not match the cluster secret" })
      )
    }
    yield* write(conn, proof(secret, "acceptor", nonceD, nonceA, DIALER, ACCEPTOR))
  })

/** The dialer's side, on a connected socket. */
const dialHandshake = (conn: Net.Socket, secret: Secret | undefined): Effect.Effect<void, HandshakeFailed> =>
  Effect.gen(function* () {
    const nonceA = yield* readExactly(conn, NONCE_BYTES)
    const nonceD = nonce()
    yield* write(conn, Buffer.concat([nonceD, proof(secret, "dialer", nonceD, nonceA, DIALER, ACCEPTOR)]))
    const proofA = yield* readExactly(conn, NONCE_BYTES)
    if (!verify(proof(secret, "acceptor", nonceD, nonceA, DIALER, ACCEPTOR), proofA)) {
      return yield* Effect.fail(
        new HandshakeFailed({ reason: "the runner's proof does not match the cluster secret" })
      )
    }
  })

/**
 * The cluster's socket protocol writes every RPC message with its own `write` (one syscall each):
 * after the handshake, the writes of one tick are corked and leave together (one `writev`) when
 * the tick's work is done. Order and completion callbacks are unchanged; only the syscalls merge.
 */
const coalesceWrites = (conn: Net.Socket): void => {
  const write = conn.write
  let corked = false
  const uncork = () => {
    corked = false
    conn.uncork()
  }
  conn.write = function (this: Net.Socket, ...args: Parameters<Net.Socket["write"]>) {
    if (!corked && !conn.destroyed) {
      corked = true
      conn.cork()
      process.nextTick(uncork)
    }
    return write.apply(this, args)
  } as Net.Socket["write"]
}

const timeoutOf = (options: Options) => Duration.decode(options.helloTimeout ?? Duration.seconds(5))

/**
 * The runner's listener (`SocketServer` on the config's runner listen address): every accepted
 * socket goes through the handshake before the cluster's handler sees it.
 */
export const layerSocketServer = (
  options: Options
): Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError, ShardingConfig.ShardingConfig> =>
  Layer.scoped(
    SocketServer.SocketServer,
    Effect.gen(function* () {
      const config = yield* ShardingConfig.ShardingConfig
      const listen = Option.orElse(config.runnerListenAddress, () => config.runnerAddress)
      if (Option.isNone(listen)) return yield* Effect.die("runner socket: the runner has no listen address")
      const server = yield* NodeSocketServer.make(listen.value)
      const maxPending = options.maxPending ?? 256
      const timeout = timeoutOf(options)
      let pending = 0
      return SocketServer.SocketServer.of({
        address: server.address,
        run: (handler) =>
          server.run((socket) =>
            // the node server provides each connection's net.Socket beside the Effect socket
            Effect.flatMap(Effect.serviceOption(NodeSocket.NetSocket), (found) => {
              if (Option.isNone(found)) return Effect.die("runner socket: no net.Socket for a connection")
              const conn = found.value
              if (pending >= maxPending) return Effect.sync(() => conn.destroy())
              pending++
              return acceptHandshake(conn, options.secret).pipe(
                Effect.timeoutFail({
                  duration: timeout,
                  onTimeout: () => new HandshakeFailed({ reason: "the handshake did not finish in time" })
                }),
                Effect.ensuring(Effect.sync(() => pending--)),
                Effect.matchEffect({
                  onFailure: () => Effect.sync(() => conn.destroy()),
                  onSuccess: () => {
                    coalesceWrites(conn)
                    return Effect.asVoid(handler(socket))
                  }
                })
              )
            })
          )
      })
    })
  )

/** Connect to `address` and prove the secret; the socket closes with `scope`. */
const connect = (
  address: RunnerAddress.RunnerAddress,
  options: Options
): Effect.Effect<Net.Socket, Socket.SocketError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Net.Socket, Socket.SocketError>((resume) => {
      const conn = createConnection({ host: address.host, port: address.port })
      conn.setNoDelay(true)
      const onError = (cause: Error) =>
        resume(Effect.fail(new Socket.SocketGenericError({ reason: "Open", cause })))
      conn.once("error", onError)
      conn.once("connect", () => {
        conn.off("error", onError)
        resume(Effect.succeed(conn))
      })
      return Effect.sync(() => conn.destroy())
    }),
    (conn) => Effect.sync(() => conn.destroy())
  ).pipe(
    Effect.tap((conn) => dialHandshake(conn, options.secret)),
    Effect.tap((conn) => Effect.sync(() => coalesceWrites(conn))),
    Effect.timeoutFail({
      duration: timeoutOf(options),
      onTimeout: () =>
        new HandshakeFailed({ reason: `no handshake with runner ${address.host}:${address.port} in time` })
    }),
    Effect.catchTag("HandshakeFailed", (cause) =>
      Effect.fail(new Socket.SocketGenericError({ reason: "Open", cause }))
    )
  )

/**
 * How a node reaches a runner: the cluster's RPC protocol over an authenticated socket, with the
 * persisted requests a stopping runner interrupts answered from storage (`persistedFallback.ts`).
 */
export const layerClientProtocol = (
  options: Options
): Layer.Layer<Runners.RpcClientProtocol, never, RpcSerialization.RpcSerialization> =>
  Layer.effect(
    Runners.RpcClientProtocol,
    Effect.gen(function* () {
      const serialization = yield* RpcSerialization.RpcSerialization
      return (address: RunnerAddress.RunnerAddress) =>
        Effect.gen(function* () {
          const socket = yield* NodeSocket.fromDuplex(connect(address, options))
          const protocol = yield* RpcClient.makeProtocolSocket().pipe(
            Effect.provideService(Socket.Socket, socket),
            Effect.provideService(RpcSerialization.RpcSerialization, serialization)
          )
          // a runner that stops answers its persisted requests in flight from storage (see there)
          return PersistedFallback.wrap(protocol, `${address.host}:${address.port}`)
        })
    })
  )
