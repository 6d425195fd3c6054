/**
 * The dashboard's event stream ends on the server's clock: a client that stays connected and
 * never reads still holds its slot at 4 minutes, is cut off after 5, and its slot is freed. The
 * routes are served by a real Node HTTP server on a free port; the minutes pass on the `TestClock`.
 */
import { createServer } from "node:http"
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import * as Auth from "../src/internal/control/dashboardAuth.js"
import type { Snapshot } from "../src/internal/control/dashboardData.js"
import * as DashboardRoutes from "../src/internal/control/dashboardRoutes.js"

const token = Redacted.make("stream-token-0123456789")
const snapshot: Snapshot = {
  at: 0,
  status: { master: { pid: 1, mode: "in-process", uptimeMs: 0, rootport: 1, webport: null }, nodes: [] },
  parents: {},
  rates: {},
  events: []
}
const assets = { index: "<p id=nodes></p>", login: "<!--error-->", script: "", style: "" }

const serve = Effect.gen(function* () {
  // the server lives in the test's scope
  const server = yield* Layer.build(
    NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1" })
  )
  const app = yield* DashboardRoutes.make({ snapshot: Effect.succeed(snapshot) }, token, assets)
  return yield* Effect.gen(function* () {
    yield* HttpServer.serveEffect(app)
    const address = (yield* HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") throw new Error("not a TCP address")
    return `http://127.0.0.1:${address.port}`
  }).pipe(Effect.provide(server))
})

describe("dashboard event stream", () => {
  it.scoped("is closed by the server after 5 minutes, reading or not, and frees its slot", () =>
    Effect.gen(function* () {
      const base = yield* serve
      const cookie = `${Auth.cookieName}=${yield* Auth.issue(token)}`
      const open = () => Effect.promise(() => fetch(`${base}/dashboard/events`, { headers: { cookie } }))
      // two streams stay for 5 minutes: one read up to its first snapshot, one never read (every
      // snapshot of every stream is a TestClock wake-up, so two, not the 16 the cap allows)
      const read = yield* open()
      const unread = yield* open()
      expect([read.status, unread.status]).toEqual([200, 200])
      const reader = read.body!.getReader()
      let text = ""
      while (!text.includes("data: ")) {
        const { value } = yield* Effect.promise(() => reader.read())
        text += new TextDecoder().decode(value)
      }
      const toEnd = (r: ReadableStreamDefaultReader<Uint8Array>) =>
        Effect.promise(async () => {
          for (;;) {
            const next = await r.read().catch(() => ({ done: true as const }))
            if (next.done) return "ended"
          }
        })
      const readEnd = yield* Effect.fork(toEnd(reader))
      // a real-time bound (the TestClock does not move by itself)
      const within5s = (ended: Effect.Effect<string>) =>
        Effect.raceFirst(
          ended,
          Effect.promise(
            () => new Promise<string>((resolve) => setTimeout(() => resolve("still open"), 5000))
          )
        )

      yield* TestClock.adjust("4 minutes")
      // (a moment of real time for a close to arrive, if the server sent one early)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))
      expect(Option.isNone(yield* Fiber.poll(readEnd))).toBe(true)
      // the unread one still holds its slot too: 14 more are admitted, the next is refused
      const more: Array<Response> = []
      for (let i = 0; i < 14; i++) more.push(yield* open())
      expect(more.map((r) => r.status)).toEqual(Array.from({ length: 14 }, () => 200))
      expect((yield* open()).status).toBe(503)
      for (const r of more) yield* Effect.promise(() => r.body!.cancel())

      yield* TestClock.adjust("1 minute")
      expect(yield* within5s(Fiber.join(readEnd))).toBe("ended")
      // the unread one was cut too: what it had buffered, then its end
      expect(yield* within5s(toEnd(unread.body!.getReader()))).toBe("ended")
      // and both slots are free again: 16 streams are admitted (the server sees each close as its
      // socket goes: wait on that, not on a timer)
      const admitted: Array<Response> = []
      for (let tries = 0; admitted.length < 16 && tries < 200; tries++) {
        const r = yield* open()
        if (r.status === 200) admitted.push(r)
        else yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
      }
      expect(admitted.length).toBe(16)
      expect((yield* open()).status).toBe(503)
      for (const r of admitted) yield* Effect.promise(() => r.body!.cancel())
    })
  )
})
