/**
 * The client edge with the node in a real process (`hotaru node`, as the master starts it):
 * hostile frames cost one connection at most, never the process.
 */
import type { ChildProcess } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schedule } from "effect"
import * as Client from "../../src/Client.js"
import * as Frame from "../../src/internal/edge/frame.js"
import { Echo, Pack, Register } from "../fixtures/hostileApp.js"
import { repo, startHotaruScoped } from "../support/cli.js"
import { freePort } from "../support/ports.js"

/** `hotaru node edge CONFIG` in its own process, killed with the scope. */
const startNode = Effect.gen(function* () {
  const netport = yield* Effect.promise(freePort)
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-hostile-"))
  const file = Path.join(dir, "config.json")
  Fs.writeFileSync(
    file,
    JSON.stringify({
      servers: {
        edge: {
          netport,
          bind: { net: "127.0.0.1" },
          app: Path.join(repo, "test/fixtures/hostileApp.ts")
        }
      }
    })
  )
  yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
  const child = yield* startHotaruScoped("hotaru node edge", ["node", "edge", file])
  return { child, netport }
})

const connect = (port: number) =>
  Client.connect({ host: "127.0.0.1", port, timeout: "5 seconds" }).pipe(
    Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("20 seconds")))
  )

const aliveAndUnchanged = (child: ChildProcess, pid: number) => {
  expect(child.pid).toBe(pid)
  expect(child.exitCode).toBeNull()
  expect(child.signalCode).toBeNull()
  expect(() => process.kill(pid, 0)).not.toThrow()
}

describe("client edge in a real node process", () => {
  it.scopedLive(
    "deep JSON, deep msgpack and a huge length do not end the node; it keeps answering",
    () =>
      Effect.gen(function* () {
        const { child, netport } = yield* startNode
        const pid = child.pid!
        const good = yield* connect(netport)
        expect(yield* good.call(Register, { user: "ann" })).toBe("hello ann")

        for (let round = 0; round < 6; round++) {
          yield* Effect.scoped(
            Effect.gen(function* () {
              const attacker = yield* connect(netport)
              const json = yield* Effect.either(
                attacker.callRaw(Register.id, Buffer.from(`${"[".repeat(5000)}${"]".repeat(5000)}`))
              )
              expect(Either.isLeft(json) && json.left._tag === "CommandFailed" && json.left.error).toBe(
                "BadRequest"
              )
              const pack = yield* Effect.either(
                attacker.callRaw(Pack.id, Buffer.concat([Buffer.alloc(3500, 0x91), Buffer.of(0x90)]))
              )
              expect(Either.isLeft(pack) && pack.left._tag === "CommandFailed" && pack.left.error).toBe(
                "BadRequest"
              )
              const header = Frame.encodeBuffer(Frame.defaultFrameOptions, Echo.id, Buffer.alloc(0))
              header.writeUInt32BE(0xfffffff0, 9)
              yield* attacker.writeBytes(header)
              yield* attacker.closed.pipe(Effect.timeout("5 seconds"))
            })
          )
        }
        yield* Effect.sleep("200 millis")
        aliveAndUnchanged(child, pid)
        expect(yield* good.call(Echo, "still here")).toBe("still here")
      }),
    60_000
  )
})
