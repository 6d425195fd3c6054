/**
 * Every runner's peer watch (issue 19, W7): a peer the runner table holds as healthy whose port
 * refuses connections is marked unhealthy, whichever runner holds the cluster's health-check
 * singleton; a peer that listens (even one that never answers) is left alone. The cluster's own SQL
 * runner storage on MariaDB and its `Runners` RPC client over hotaru's runner transport, real sockets.
 */
import { createServer } from "node:net"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as Runner from "@effect/cluster/Runner"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Runners from "@effect/cluster/Runners"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Layer, Option, Schedule } from "effect"
import * as Db from "../src/Db.js"
import * as PeerWatch from "../src/internal/cluster/peerWatch.js"
import * as RunnerSocket from "../src/internal/cluster/runnerSocket.js"
import { freePort } from "./support/ports.js"
import { needs, uniqueName } from "./support/services.js"

const db = Db.layer({ driver: "mysql", host: "127.0.0.1", port: 3306, user: "root", passwd: "", db: "test" })

/** A listener that accepts and says nothing: a live process that does not answer pings. */
const silentListener = Effect.acquireRelease(
  Effect.async<{ close: () => void; port: number }>((resume) => {
    const server = createServer(() => {})
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address()
      const port = addr !== null && typeof addr !== "string" ? addr.port : 0
      resume(Effect.succeed({ close: () => server.close(), port }))
    })
  }),
  (s) => Effect.sync(s.close)
)

const setup = (prefix: string, self: RunnerAddress.RunnerAddress, interval: Duration.DurationInput) => {
  const config = ShardingConfig.layer({
    runnerAddress: Option.some(self),
    runnerHealthCheckInterval: interval
  })
  const storage = SqlRunnerStorage.layerWith({ prefix }).pipe(Layer.provide(db))
  const runners = Runners.layerRpc.pipe(
    Layer.provide(RunnerSocket.layerClientProtocol({ secret: undefined, helloTimeout: "300 millis" })),
    Layer.provide([MessageStorage.layerNoop, RpcSerialization.layerMsgPack])
  )
  return Layer.mergeAll(storage, runners).pipe(Layer.provideMerge(config))
}

const dropTables = (prefix: string) =>
  Effect.addFinalizer(() =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      for (const t of ["runners", "locks"])
        yield* Effect.ignore(sql.unsafe(`DROP TABLE IF EXISTS ${prefix}_${t}`))
    }).pipe(Effect.provide(db), Effect.orDie)
  )

const runner = (address: RunnerAddress.RunnerAddress) =>
  new Runner.Runner({ address, groups: ["default"], weight: 1 })

const healthOf = (storage: RunnerStorage.RunnerStorage["Type"]) =>
  Effect.map(storage.getRunners, (all) => new Map(all.map(([r, healthy]) => [r.address.port, healthy])))

describe("PeerWatch", () => {
  needs("mariadb")

  it.scopedLive(
    "a peer whose port refuses is marked unhealthy; a silent listener and itself are not",
    () =>
      Effect.gen(function* () {
        const prefix = uniqueName("watch")
        yield* dropTables(prefix)
        const silent = yield* silentListener
        const self = RunnerAddress.make("127.0.0.1", yield* Effect.promise(() => freePort()))
        const gone = RunnerAddress.make("127.0.0.1", yield* Effect.promise(() => freePort()))
        const quiet = RunnerAddress.make("127.0.0.1", silent.port)
        yield* Effect.gen(function* () {
          const storage = yield* RunnerStorage.RunnerStorage
          const runners = yield* Runners.Runners
          for (const a of [self, gone, quiet]) yield* storage.register(runner(a), true)
          const dead = yield* PeerWatch.checkOnce(self, runners, storage)
          expect(dead.map((a) => a.port)).toEqual([gone.port])
          const health = yield* healthOf(storage)
          expect(health.get(gone.port)).toBe(false)
          // listening is alive as far as this watch knows: the stock six pings decide for it
          expect(health.get(quiet.port)).toBe(true)
          // this runner's own port refuses too (nothing listens in this test): never itself
          expect(health.get(self.port)).toBe(true)
          // an unhealthy peer is not pinged again
          expect(yield* PeerWatch.checkOnce(self, runners, storage)).toEqual([])
        }).pipe(Effect.provide(setup(prefix, self, "1 minute")))
      }),
    20_000
  )

  it.scopedLive("the layer runs the watch every runnerHealthCheckInterval for the runner's life", () =>
    Effect.gen(function* () {
      const prefix = uniqueName("watch")
      yield* dropTables(prefix)
      const self = RunnerAddress.make("127.0.0.1", yield* Effect.promise(() => freePort()))
      const gone = RunnerAddress.make("127.0.0.1", yield* Effect.promise(() => freePort()))
      yield* Effect.gen(function* () {
        const storage = yield* RunnerStorage.RunnerStorage
        yield* storage.register(runner(self), true)
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* Layer.build(PeerWatch.layer)
            // registered after the watch started: found on a later pass
            yield* storage.register(runner(gone), true)
            // fails the test (a TimeoutException) if the watch never marks it
            yield* Effect.map(healthOf(storage), (h) => h.get(gone.port)).pipe(
              Effect.repeat({ until: (h) => h === false, schedule: Schedule.spaced("50 millis") }),
              Effect.timeout("5 seconds")
            )
          })
        )
        // the watch ended with its scope: a peer that dies now stays as the table says
        yield* storage.setRunnerHealth(gone, true)
        yield* Effect.sleep("600 millis")
        expect((yield* healthOf(storage)).get(gone.port)).toBe(true)
      }).pipe(Effect.provide(setup(prefix, self, "200 millis")))
    })
  )
})
