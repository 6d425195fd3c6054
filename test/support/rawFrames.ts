/**
 * A raw client of the edge's frames over TCP, for tests that speak the system frames themselves
 * (resume tokens, `Resume` requests): every frame the server sends is kept, in order.
 */
import * as Net from "node:net"
import { Effect, Queue, type Scope } from "effect"
import * as Frame from "../../src/internal/edge/frame.js"

export interface RawFrame {
  readonly command: number
  readonly body: Uint8Array
  readonly text: string
}

export interface Raw {
  /** Send one frame (a string body is UTF-8, an object JSON). */
  readonly send: (command: number, body: string | Uint8Array | object) => Effect.Effect<void>
  /** The next frame of `command` the server sent (earlier ones of other commands are skipped). */
  readonly next: (command: number) => Effect.Effect<RawFrame>
  /** The next frame of `command`, parsed as JSON. */
  readonly json: (command: number) => Effect.Effect<unknown>
  /** Completes when the server closed the connection. */
  readonly closed: Effect.Effect<void>
  readonly destroy: Effect.Effect<void>
}

const utf8 = new TextDecoder()

/** Connect to 127.0.0.1:`port`; closed with the scope. */
export const connect = (port: number): Effect.Effect<Raw, never, Scope.Scope> =>
  Effect.gen(function* () {
    const frames = yield* Queue.unbounded<RawFrame>()
    const ended = yield* Queue.unbounded<void>()
    const socket = yield* Effect.acquireRelease(
      Effect.async<Net.Socket>((resume) => {
        const s = Net.connect({ host: "127.0.0.1", port, noDelay: true }, () => resume(Effect.succeed(s)))
        const decoder = new Frame.Decoder()
        s.on("data", (chunk) =>
          decoder.push(chunk, (command, body) => {
            Queue.unsafeOffer(frames, { command, body, text: utf8.decode(body) })
          })
        )
        s.on("error", () => {})
        s.on("close", () => Queue.unsafeOffer(ended, undefined))
      }),
      (s) => Effect.sync(() => s.destroy())
    )
    const next = (command: number): Effect.Effect<RawFrame> =>
      Effect.flatMap(Queue.take(frames), (f) => (f.command === command ? Effect.succeed(f) : next(command)))
    return {
      send: (command, body) =>
        Effect.sync(() => {
          const bytes =
            typeof body === "string"
              ? Buffer.from(body, "utf8")
              : body instanceof Uint8Array
                ? body
                : Buffer.from(JSON.stringify(body), "utf8")
          socket.write(Frame.encode(Frame.defaultFrameOptions, command, bytes))
        }),
      next,
      json: (command) => Effect.map(next(command), (f) => JSON.parse(f.text) as unknown),
      closed: Effect.asVoid(Queue.take(ended)),
      destroy: Effect.sync(() => socket.destroy())
    }
  })
