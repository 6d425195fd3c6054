/**
 * Distributed flows of the seed's demo, deterministic under TestClock, through `hotaru/testing`.
 */

import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Fiber, Stream, TestClock } from "effect"
import { Game1Service, NetHandle200, NetHandle300 } from "../examples/demo/app/protocol.js"
import * as Remote from "../src/Remote.js"
import { TestCluster } from "../src/testing.js"

const config = new URL("../examples/demo/config.json", import.meta.url).pathname

const expectUnavailable = <A, E>(result: Either.Either<A, E>) =>
  expect(Either.isLeft(result) && result.left).toMatchObject({
    error: "HandlerFailed",
    tag: "NodeUnavailable"
  })

describe("TestCluster", () => {
  it.scoped("a blocked gate link fails calls with NodeUnavailable and comes back by itself", () =>
    Effect.gen(function* () {
      const cluster = yield* TestCluster.make({ config })
      yield* cluster.awaitLinks
      const client = yield* cluster.client("net")
      expect(yield* client.call(NetHandle200, "msgdata")).toBe("gateHandle Completed")

      yield* cluster.block("gate")
      // net sees its link go down (the memory transport delivers the cut asynchronously)
      yield* cluster.node("net").use(
        Effect.flatMap(Remote.Remote, (r) =>
          r.changes("gate").pipe(
            Stream.filter((s) => s._tag === "Connecting"),
            Stream.runHead
          )
        )
      )
      expectUnavailable(yield* Effect.either(client.call(NetHandle200, "msgdata")))

      yield* cluster.unblock("gate")
      // no real waiting: the reconnect backoff runs on the TestClock
      yield* TestClock.adjust("10 seconds")
      yield* cluster.awaitLinks
      expect(yield* client.call(NetHandle200, "msgdata")).toBe("gateHandle Completed")
      expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
    })
  )

  it.scoped("with callTimeout in the config, a call waits for the link to come back", () =>
    Effect.gen(function* () {
      const demo = JSON.parse(Fs.readFileSync(config, "utf8"))
      demo.servers.net.callTimeout = 5
      const cluster = yield* TestCluster.make({ config: demo, dir: Path.dirname(config) })
      yield* cluster.awaitLinks
      const client = yield* cluster.client("net")
      yield* cluster.block("gate")
      yield* cluster.node("net").use(
        Effect.flatMap(Remote.Remote, (r) =>
          r.changes("gate").pipe(
            Stream.filter((s) => s._tag === "Connecting"),
            Stream.runHead
          )
        )
      )
      const call = yield* Effect.fork(client.call(NetHandle200, "msgdata"))
      yield* cluster.unblock("gate")
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(call)).toBe("gateHandle Completed")
      // and past the timeout it fails typed
      yield* cluster.block("gate")
      yield* TestClock.adjust("1 second")
      const late = yield* Effect.fork(Effect.either(client.call(NetHandle200, "msgdata")))
      yield* TestClock.adjust("6 seconds")
      const result = yield* Fiber.join(late)
      expectUnavailable(result)
    })
  )

  it.scoped("a call in flight when its link dies fails with a typed error, never hangs", () =>
    Effect.gen(function* () {
      const entered = yield* Deferred.make<void>()
      // game1's handler never answers
      const stuckGame1 = Remote.serve(
        "gate",
        Game1Service,
        Game1Service.toLayer({
          game1Handle: () => Effect.zipRight(Deferred.succeed(entered, undefined), Effect.never)
        })
      )
      const cluster = yield* TestCluster.make({ config, apps: { game1: stuckGame1 } })
      yield* cluster.awaitLinks
      const client = yield* cluster.client("net")
      const call = yield* Effect.fork(Effect.either(client.call(NetHandle300, "msgdata")))
      yield* Deferred.await(entered)
      yield* cluster.stop("game1")
      const result = yield* Fiber.join(call)
      expectUnavailable(result)
      // the error frame names the command, not the cluster's internals (unless debugErrors)
      expect(Either.isLeft(result) && result.left.message).toMatch(/netHandle_300 failed/)
      expect(Either.isLeft(result) && result.left.message).not.toMatch(/game1/)
    })
  )

  it.scoped("a restarted parent is linked again by its children, with no manual step", () =>
    Effect.gen(function* () {
      const cluster = yield* TestCluster.make({ config })
      yield* cluster.awaitLinks
      yield* cluster.restart("gate")
      yield* TestClock.adjust("10 seconds")
      yield* cluster.awaitLinks
      const client = yield* cluster.client("net")
      expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
    })
  )

  it.scoped("nodes may start in any order", () =>
    Effect.gen(function* () {
      const cluster = yield* TestCluster.make({ config, nodes: ["net", "game1"] })
      const client = yield* cluster.client("net")
      expectUnavailable(yield* Effect.either(client.call(NetHandle200, "msgdata")))
      yield* cluster.start("gate")
      yield* TestClock.adjust("10 seconds")
      yield* cluster.awaitLinks
      expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
    })
  )

  it.scopedLive("the same flows on real loopback TCP", () =>
    Effect.gen(function* () {
      const cluster = yield* TestCluster.make({ config, transport: "tcp" })
      yield* cluster.awaitLinks
      const client = yield* cluster.client("net")
      expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
      yield* cluster.stop("gate")
      expectUnavailable(yield* Effect.either(client.call(NetHandle200, "msgdata")))
      yield* cluster.start("gate")
      yield* cluster.awaitLinks
      expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
    })
  )
})
