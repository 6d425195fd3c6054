/**
 * `limits.requestTimeout`: replies leave in request order, so one handler that never answers
 * would hold every later reply of its connection (and, at `maxInFlight`, its reading). Past the
 * timeout the request is answered a `Timeout` error frame in its place and its handler
 * interrupted. Real sockets on 127.0.0.1.
 */
import * as Net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Layer } from "effect"
import * as Client from "../../src/Client.js"
import * as Frame from "../../src/internal/edge/frame.js"
import * as NetCommand from "../../src/NetCommand.js"
import * as NetServer from "../../src/NetServer.js"
import { until } from "../support/wait.js"

const Echo = NetCommand.text(1, { name: "echo" })
const Hang = NetCommand.text(2, { name: "hang" })
const Late = NetCommand.text(3, { name: "late" })

/** What the handlers saw: hangs interrupted, late handlers that ran to their end. */
interface Seen {
  interrupted: number
  lateDone: number
}

const app = (seen: Seen) =>
  Layer.mergeAll(
    NetServer.handle(Echo, (body) => Effect.succeed(body)),
    NetServer.handle(Hang, () =>
      Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => seen.interrupted++)))
    ),
    // an uninterruptible handler finishes after the timeout answered: its result goes nowhere
    NetServer.handle(Late, () =>
      Effect.uninterruptible(
        Effect.sleep("600 millis").pipe(
          Effect.zipRight(Effect.sync(() => seen.lateDone++)),
          Effect.as("late")
        )
      )
    )
  )

const makeSeen = Effect.sync((): Seen => ({ interrupted: 0, lateDone: 0 }))

const serve = (seen: Seen, options: Partial<NetServer.Options>) =>
  NetServer.serve(app(seen), { host: "127.0.0.1", port: 0, ...options })

const connect = Effect.flatMap(NetServer.NetServer, (server) =>
  Client.connect({ host: "127.0.0.1", port: server.address.port, timeout: "5 seconds" })
)
const stats = Effect.flatMap(NetServer.NetServer, (s) => s.stats)

describe("client edge: requestTimeout", () => {
  it.scopedLive(
    "a handler that never answers gets Timeout; the replies behind it go, its reading resumes",
    () =>
      Effect.gen(function* () {
        const seen = yield* makeSeen
        yield* Effect.gen(function* () {
          const client = yield* connect
          const start = Date.now()
          // two hangs fill maxInFlight (2): the echo behind them is not even read until they end
          const hangs = yield* Effect.forkAll(
            [client.call(Hang, "a"), client.call(Hang, "b")].map(Effect.either)
          )
          const echo = yield* Effect.fork(client.call(Echo, "after"))
          expect(yield* Fiber.join(echo)).toBe("after")
          const took = Date.now() - start
          const [a, b] = yield* Fiber.join(hangs)
          for (const r of [a!, b!]) {
            expect(Either.isLeft(r) && r.left).toMatchObject({
              _tag: "CommandFailed",
              error: "Timeout",
              command: Hang.id
            })
          }
          expect(took).toBeGreaterThanOrEqual(300)
          expect(took).toBeLessThan(3000)
          // both handlers were interrupted, and counted
          yield* until("both hangs to be interrupted", () => seen.interrupted === 2, 2000)
          expect((yield* stats).requestTimeouts).toBe(2)
          // the connection is as good as new
          expect(yield* client.call(Echo, "again")).toBe("again")
        }).pipe(Effect.provide(serve(seen, { maxInFlight: 2, limits: { requestTimeout: "300 millis" } })))
      })
  )

  it.scopedLive("a handler that ends after its Timeout was sent sends nothing more", () =>
    Effect.gen(function* () {
      const seen = yield* makeSeen
      yield* Effect.gen(function* () {
        const server = yield* NetServer.NetServer
        const frames: Array<{ command: number; body: string }> = []
        const socket = yield* Effect.acquireRelease(
          Effect.async<Net.Socket>((resume) => {
            const s = Net.connect({ host: "127.0.0.1", port: server.address.port })
            const decoder = new Frame.Decoder(Frame.defaultFrameOptions)
            s.on("error", () => {})
            s.on("data", (chunk) =>
              decoder.push(chunk, (command, body) => {
                frames.push({ command, body: Buffer.from(body).toString() })
              })
            )
            s.once("connect", () => resume(Effect.succeed(s)))
          }),
          (s) => Effect.sync(() => s.destroy())
        )
        const frame = (command: number, body: string) =>
          Frame.encodeBuffer(Frame.defaultFrameOptions, command, Buffer.from(body))
        socket.write(Buffer.concat([frame(Late.id, "x"), frame(Echo.id, "next")]))
        // the late handler finishes (uninterruptible) well after its Timeout answered
        yield* until("the late handler to finish", () => seen.lateDone === 1, 3000)
        yield* Effect.sleep("100 millis")
        expect(frames.map((f) => f.command)).toEqual([NetCommand.ERROR_COMMAND, Echo.id])
        expect(JSON.parse(frames[0]!.body)).toEqual({
          command: Late.id,
          error: "Timeout",
          message: "late did not answer within 200 ms (requestTimeout)"
        })
        expect(frames[1]!.body).toBe("next")
      }).pipe(Effect.provide(serve(seen, { limits: { requestTimeout: "200 millis" } })))
    })
  )

  it.scopedLive("requestTimeout 0 waits for the handler as long as it takes", () =>
    Effect.gen(function* () {
      const seen = yield* makeSeen
      yield* Effect.gen(function* () {
        const client = yield* connect
        expect(yield* client.call(Late, "x")).toBe("late")
        expect((yield* stats).requestTimeouts).toBe(0)
      }).pipe(Effect.provide(serve(seen, { limits: { requestTimeout: Duration.zero } })))
    })
  )

  it.effect("the default is 30 s, and the config's limits.requestTimeout sets it in seconds", () =>
    Effect.sync(() => {
      const options = NetServer.configOptions({ limits: { requestTimeout: 1.5 } })
      expect(Duration.toMillis(options.limits!.requestTimeout!)).toBe(1500)
      expect(Duration.toMillis(NetServer.defaults.requestTimeout)).toBe(30_000)
    })
  )
})
