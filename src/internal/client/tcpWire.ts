/**
 * The client's TCP connection (Node, Bun, Deno): Nagle off, destroyed with the scope.
 */
import * as Net from "node:net"
import { Effect } from "effect"
import type { OpenWire } from "./wire.js"

/** A TCP connection to `host:port`. */
export const open =
  (host: string, port: number): OpenWire =>
  (events) =>
    Effect.acquireRelease(
      Effect.async<Net.Socket, string>((resume) => {
        const socket = Net.connect({ host, port, noDelay: true })
        const onError = (e: Error) => resume(Effect.fail(`${host}:${port}: ${e.message}`))
        socket.once("error", onError)
        socket.once("connect", () => {
          socket.off("error", onError)
          socket.on("data", events.onData)
          socket.on("error", (e) => events.onError(e.message))
          socket.on("close", events.onClose)
          resume(Effect.succeed(socket))
        })
        return Effect.sync(() => socket.destroy())
      }),
      (socket) => Effect.sync(() => socket.destroy())
    ).pipe(
      Effect.map((socket) => ({
        isClosed: () => socket.destroyed,
        write: (bytes: Uint8Array) => {
          socket.write(bytes)
        },
        destroy: () => {
          socket.destroy()
        }
      }))
    )
