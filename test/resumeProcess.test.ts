/**
 * Session resume with the front in a real node process (`hotaru node`, config `resume` block):
 * a browser-style client (WebSocket) dropped while another player pushes to it comes back
 * without logging in again and gets every push once, in order.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Ref, Schedule, Stream } from "effect"
import * as Client from "../src/Client.js"
import { Login, Tell, Told, WhoAmI } from "./fixtures/sessionApp.js"
import { repo, startHotaruScoped } from "./support/cli.js"
import { freePort } from "./support/ports.js"

/** `hotaru node front CONFIG` with resume on, killed with the scope. */
const startFront = Effect.gen(function* () {
  const netport = yield* Effect.promise(freePort)
  const wsport = yield* Effect.promise(freePort)
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-resume-"))
  const file = Path.join(dir, "config.json")
  Fs.writeFileSync(
    file,
    JSON.stringify({
      servers: {
        front: {
          netport,
          wsport,
          bind: { net: "127.0.0.1" },
          resume: { window: 10, buffer: 128 },
          app: Path.join(repo, "test/fixtures/sessionApp.ts")
        }
      }
    })
  )
  yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
  yield* startHotaruScoped("hotaru node front", ["node", "front", file])
  return { netport, wsport }
})

describe("session resume in a real node process", () => {
  it.scopedLive(
    "a WebSocket player dropped mid-stream resumes: every push once, in order, no second login",
    () =>
      Effect.gen(function* () {
        const { netport, wsport } = yield* startFront
        const bob = yield* Client.connect({ host: "127.0.0.1", port: netport, timeout: "5 seconds" }).pipe(
          Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("20 seconds")))
        )
        const logins = yield* Ref.make(0)
        const alice = yield* Client.reconnecting(
          Client.connectWebSocket({ url: `ws://127.0.0.1:${wsport}/`, timeout: "5 seconds" }),
          {
            pause: "20 millis",
            onConnect: (c) =>
              Effect.zipRight(
                Ref.update(logins, (n) => n + 1),
                Effect.asVoid(c.call(Login, "alice"))
              )
          }
        )
        expect(yield* alice.call(WhoAmI, "")).toBe("alice")
        const got = yield* alice.pushesOf(Told).pipe(Stream.take(80), Stream.runCollect, Effect.fork)
        const tell = (from: number, to: number) =>
          Effect.forEach(
            Array.from({ length: to - from }, (_, i) => String(from + i)),
            (text) => bob.call(Tell, { to: "alice", text }),
            { discard: true }
          )
        const during = yield* Effect.fork(tell(0, 60))
        yield* Effect.sleep("10 millis")
        const first = yield* alice.current
        yield* first.close
        yield* Effect.repeat(alice.current, {
          until: (c) => c !== first,
          schedule: Schedule.spaced("10 millis")
        })
        yield* Fiber.join(during)
        yield* tell(60, 80)
        const texts = Chunk.toArray(
          yield* Effect.timeoutFail(Fiber.join(got), {
            duration: "15 seconds",
            onTimeout: () => "pushes missing"
          })
        )
        expect(texts).toEqual(Array.from({ length: 80 }, (_, i) => String(i)))
        expect(yield* Ref.get(logins)).toBe(1)
        expect(yield* alice.call(WhoAmI, "")).toBe("alice")
      }),
    60_000
  )
})
