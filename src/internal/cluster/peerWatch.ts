/**
 * Every runner watches its peers for the one unambiguous sign of death: a refused connection.
 *
 * @effect/cluster's health check is a singleton: one runner (the owner of its shard) asks
 * `RunnerHealth.isAlive` of the others. When that runner is the one that dies, nobody checks
 * health until the singleton moves, and it moves only once the dead runner has left the peers'
 * view by heartbeat expiry (`shardLockExpiration`, 3–5 s): W7's slow rounds (1 kill in 3 in a
 * three-runner arena).
 *
 * So each runner also runs this watch, every `runnerHealthCheckInterval`: it pings every other
 * runner the table holds as healthy (over the cluster's own `Runners` client, the sockets it
 * already has), and when a ping fails, a bare TCP connect decides as in `runnerHealth.ts`:
 * refused twice, 100 ms apart, and the runner is marked unhealthy in the table, which moves its
 * shards at every runner's next assignment poll. Anything else (a slow answer, a timeout, an
 * unreachable host) is left to the singleton's stock policy: this watch never marks a runner that
 * still listens. A runner restarted at the same address registers itself healthy again.
 *
 * @internal
 */
import type * as Runner from "@effect/cluster/Runner"
import type * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Runners from "@effect/cluster/Runners"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { Duration, Effect, Equal, Layer, Option } from "effect"
import { refusesConnections } from "./runnerHealth.js"

/** A ping answers within this, or the connect probe decides. */
const PING_TIMEOUT = Duration.seconds(2)

/** One pass: every other healthy runner pinged; the ones whose port refuses marked unhealthy. */
export const checkOnce = (
  self: RunnerAddress.RunnerAddress,
  runners: Runners.Runners["Type"],
  storage: RunnerStorage.RunnerStorage["Type"]
): Effect.Effect<ReadonlyArray<RunnerAddress.RunnerAddress>, unknown> =>
  Effect.flatMap(storage.getRunners, (all) =>
    Effect.filter(
      all.filter(([runner, healthy]) => healthy && !Equal.equals(runner.address, self)),
      ([runner]: readonly [Runner.Runner, boolean]) =>
        runners.ping(runner.address).pipe(
          Effect.timeout(PING_TIMEOUT),
          Effect.as(false),
          Effect.catchAll(() => refusesConnections(runner.address)),
          Effect.tap((dead) =>
            dead
              ? Effect.zipRight(
                  Effect.logDebug(
                    `runner ${runner.address.host}:${runner.address.port} refuses connections: unhealthy`
                  ),
                  storage.setRunnerHealth(runner.address, false)
                )
              : Effect.void
          )
        ),
      { concurrency: "unbounded" }
    ).pipe(Effect.map((dead) => dead.map(([runner]) => runner.address)))
  )

/** The watch, for the life of the runner (nothing on a client-only node). */
export const layer: Layer.Layer<
  never,
  never,
  Runners.Runners | RunnerStorage.RunnerStorage | ShardingConfig.ShardingConfig
> = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* ShardingConfig.ShardingConfig
    if (Option.isNone(config.runnerAddress)) return
    const self = config.runnerAddress.value
    const runners = yield* Runners.Runners
    const storage = yield* RunnerStorage.RunnerStorage
    const pass = checkOnce(self, runners, storage).pipe(
      Effect.catchAllCause((cause) => Effect.logDebug("peer watch failed", cause)),
      Effect.zipRight(Effect.sleep(config.runnerHealthCheckInterval))
    )
    yield* Effect.forkScoped(Effect.forever(pass).pipe(Effect.annotateLogs({ module: "hotaru/peerWatch" })))
  })
)
