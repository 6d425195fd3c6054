/**
 * The master's own clock: uptimes in `status` come from the Effect `Clock`, so they follow the
 * TestClock (a master with no nodes and no admin web; its rootport on a free 127.0.0.1 port).
 */
import * as Net from "node:net"
import * as Os from "node:os"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Logger, LogLevel, Schema, TestClock } from "effect"
import * as Config from "../src/Config.js"
import * as Master from "../src/Master.js"
import { Transport } from "../src/Transport.js"

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as Net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

const Env = Layer.mergeAll(NodeContext.layer, Transport.layerTcp(), Logger.minimumLogLevel(LogLevel.None))

describe("Master", () => {
  it.scoped("status: the master's uptime follows the Effect Clock (TestClock), and is a StatusReport", () =>
    Effect.gen(function* () {
      const rootport = yield* Effect.promise(freePort)
      const loaded = Either.getOrThrow(
        Config.fromObject({ master: { rootport }, servers: {} }, { dir: Os.tmpdir() })
      )
      const master = yield* Master.make({ config: loaded, mode: "in-process", token: "t" }).pipe(
        Effect.provide(Env)
      )
      const before = yield* master.status
      expect(before.master.uptimeMs).toBe(0)
      yield* TestClock.adjust("90 seconds")
      const after = yield* master.status
      expect(after.master.uptimeMs).toBe(90_000)
      expect(after.master.rootport).toBe(rootport)
      // the document the admin API sends is valid against its own Schema
      expect(Schema.is(Master.StatusReport)(after)).toBe(true)
    })
  )
})
