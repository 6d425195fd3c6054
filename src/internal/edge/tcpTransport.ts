/**
 * The TCP transport of the client edge: a `node:net` listener whose sockets are the core's
 * `Wire`s as they are (their write high-water mark is the edge's `highWater`, so `write` says
 * when to hold).
 */
import * as Net from "node:net"
import { Effect, Runtime, type Scope } from "effect"
import type { Core } from "./core.js"

/** Where and how to listen. */
export interface ListenOptions {
  readonly host: string
  readonly port: number
  readonly noDelay: boolean
  readonly highWater: number
}

/** Why the listener could not start. */
export interface ListenFailure {
  readonly host: string
  readonly port: number
  readonly cause: Error
}

/** Start `server` listening (a TCP or an HTTP server); its bound address, port 0 resolved. */
export const listenOn = <E>(
  server: Net.Server,
  host: string,
  port: number,
  onFailure: (failure: ListenFailure) => E
): Effect.Effect<{ readonly host: string; readonly port: number }, E> =>
  Effect.async((resume) => {
    const onError = (cause: Error) => resume(Effect.fail(onFailure({ host, port, cause })))
    server.once("error", onError)
    server.listen({ host, port, backlog: 4096 }, () => {
      server.off("error", onError)
      const address = server.address()
      resume(
        Effect.succeed(
          typeof address === "object" && address !== null
            ? { host: address.address, port: address.port }
            : { host, port }
        )
      )
    })
  })

/** Listen, handing every connection to `core`; the scope closes the listener and its connections. */
export const listen = <E>(
  core: Core,
  options: ListenOptions,
  onFailure: (failure: ListenFailure) => E
): Effect.Effect<{ readonly host: string; readonly port: number }, E, Scope.Scope> => {
  const { host, port } = options
  const server = Net.createServer({ noDelay: options.noDelay, highWaterMark: options.highWater })
  server.on("connection", (socket: Net.Socket) => {
    socket.on("error", () => {})
    const state = core.accept(socket, socket.remoteAddress, socket.remotePort)
    if (state === undefined) return
    socket.on("data", (chunk: Buffer) => core.received(state, chunk))
    socket.on("close", () => core.gone(state))
  })
  return Effect.acquireRelease(listenOn(server, host, port, onFailure), () =>
    Effect.suspend(() => {
      server.close()
      return core.closeAll
    })
  ).pipe(
    Effect.tap((bound) =>
      Effect.flatMap(Effect.runtime<never>(), (runtime) =>
        Effect.sync(() => {
          core.bound("tcp", bound, () => server.close())
          server.on("error", (cause) =>
            Runtime.runFork(runtime)(Effect.logError("netport listener error", cause))
          )
        })
      )
    )
  )
}
