/**
 * hotaru's `RunnerHealth` (issue 19, W7): a runner whose port refuses connections is dead at once;
 * one that listens but does not answer pings keeps the cluster's stock retries (six pings, 500 ms
 * apart). Real sockets, the cluster's own `Runners` RPC client over hotaru's runner transport.
 */
import { createServer } from "node:net"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Health from "../src/internal/cluster/runnerHealth.js"
import * as RunnerSocket from "../src/internal/cluster/runnerSocket.js"
import { freePort } from "./support/ports.js"

const health = Health.layer.pipe(
  Layer.provide(Runners.layerRpc),
  Layer.provide(RunnerSocket.layerClientProtocol({ secret: undefined, helloTimeout: "300 millis" })),
  Layer.provide([MessageStorage.layerNoop, ShardingConfig.layer(), RpcSerialization.layerMsgPack])
)

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = performance.now()
    const a = yield* effect
    return [a, performance.now() - start] as const
  })

describe("RunnerHealth", () => {
  it.scopedLive("a port that refuses connections: dead within a second", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const address = RunnerAddress.make("127.0.0.1", port)
      const { isAlive } = yield* RunnerHealth.RunnerHealth
      const [alive, ms] = yield* timed(isAlive(address))
      expect(alive).toBe(false)
      expect(ms).toBeLessThan(1000)
    }).pipe(Effect.provide(health))
  )

  it.scopedLive(
    "a port that listens but never answers: the stock retries, not declared dead at once",
    () =>
      Effect.gen(function* () {
        // a listener that accepts and says nothing: every ping's handshake times out
        const server = createServer(() => {})
        yield* Effect.acquireRelease(
          Effect.async<void>((resume) => {
            server.listen(0, "127.0.0.1", () => resume(Effect.void))
          }),
          () => Effect.sync(() => server.close())
        )
        const addr = server.address()
        if (addr === null || typeof addr === "string") return yield* Effect.die("no address")
        const address = RunnerAddress.make("127.0.0.1", addr.port)
        const { isAlive } = yield* RunnerHealth.RunnerHealth
        const [alive, ms] = yield* timed(isAlive(address))
        expect(alive).toBe(false)
        // six pings, 500 ms apart (the cluster's policy), each ending with the handshake timeout
        expect(ms).toBeGreaterThan(2500)
      }).pipe(Effect.provide(health)),
    20_000
  )
})
