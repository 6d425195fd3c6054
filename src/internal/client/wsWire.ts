/**
 * The client's WebSocket connection, over the WHATWG `WebSocket` a browser (and Node 22+, Bun,
 * Deno) has; under Node 20, the `ws` package's. Frames travel in binary messages.
 */
import { Effect } from "effect"
import type { OpenWire } from "./wire.js"

/** The part of the WHATWG WebSocket API the client uses (the `ws` package has it too). */
interface BrowserSocket {
  binaryType: string
  readonly readyState: number
  send(data: Uint8Array): void
  close(code?: number): void
  addEventListener(
    type: string,
    listener: (event: { readonly data?: unknown; readonly message?: string }) => void
  ): void
}
type SocketConstructor = new (url: string) => BrowserSocket

const OPEN = 1

/** This runtime's `WebSocket`, or the `ws` package's. */
const socketConstructor: Effect.Effect<SocketConstructor, string> = Effect.suspend(() => {
  const global = (globalThis as { readonly WebSocket?: SocketConstructor }).WebSocket
  if (global !== undefined) return Effect.succeed(global)
  return Effect.tryPromise({
    try: () => import("ws").then((m) => m.WebSocket as unknown as SocketConstructor),
    catch: () => "no WebSocket in this runtime (install the ws package)"
  })
})

/** A WebSocket connection to `url` (`ws://host:port/` or `wss://…`). */
export const open =
  (url: string): OpenWire =>
  (events) =>
    Effect.flatMap(socketConstructor, (WebSocket) =>
      Effect.acquireRelease(
        Effect.async<BrowserSocket, string>((resume) => {
          let opened = false
          let socket: BrowserSocket
          try {
            socket = new WebSocket(url)
          } catch (e) {
            resume(Effect.fail(`${url}: ${e instanceof Error ? e.message : String(e)}`))
            return
          }
          socket.binaryType = "arraybuffer"
          socket.addEventListener("open", () => {
            opened = true
            resume(Effect.succeed(socket))
          })
          socket.addEventListener("message", (event) => {
            const data = event.data
            if (data instanceof ArrayBuffer) events.onData(new Uint8Array(data))
            else if (ArrayBuffer.isView(data))
              events.onData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
            else events.onError("the server sent a text message")
          })
          socket.addEventListener("error", (event) => {
            const message = event.message ?? "WebSocket error"
            if (!opened) resume(Effect.fail(`${url}: ${message}`))
            else events.onError(message)
          })
          socket.addEventListener("close", () => {
            if (!opened) resume(Effect.fail(`${url}: closed before it opened`))
            else events.onClose()
          })
          return Effect.sync(() => socket.close())
        }),
        (socket) => Effect.sync(() => socket.close())
      ).pipe(
        Effect.map((socket) => ({
          isClosed: () => socket.readyState !== OPEN,
          write: (bytes: Uint8Array) => socket.send(bytes),
          destroy: () => socket.close()
        }))
      )
    )
