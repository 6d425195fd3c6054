/**
 * How a runner finds a dead peer: the cluster's ping, and a refused connection taken as proof.
 *
 * @effect/cluster's health check (a singleton on one runner, every `runnerHealthCheckInterval`)
 * asks `RunnerHealth.isAlive` of each registered runner and marks the ones that answer `false`
 * unhealthy in the runner table, which moves their shards. The stock `layerPing` answers `false`
 * only after six failed pings 500 ms apart (≥ 2.5 s for a peer that is gone, each up to 10 s for
 * one that does not answer), because a ping can fail for a live runner too (a full event loop,
 * a network hiccup).
 *
 * One failure is not ambiguous: a refused TCP connection (`ECONNREFUSED`). It means the peer's
 * host is up and nothing listens on the runner's port, i.e. the runner's process is gone (a
 * crash, a SIGKILL; a runner listens from before it registers until after it unregisters, and
 * a full accept queue drops connections, it does not refuse them). So when a ping fails, a bare
 * TCP connect to the runner's address decides: refused twice, 100 ms apart, and the runner is
 * dead at once; anything else (connected, timed out, unreachable) is left to the stock ping
 * policy. A live runner is never declared dead faster than before; only one whose port refuses.
 * A runner restarted at the same address registers itself healthy again.
 *
 * @internal
 */
import { createConnection } from "node:net"
import type * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

type Probe = "refused" | "other"

/** One TCP connect to `address`: refused, or anything else (connected, another error, no answer in 1 s). */
const probe = (address: RunnerAddress.RunnerAddress): Effect.Effect<Probe> =>
  Effect.async<Probe>((resume) => {
    const conn = createConnection({ host: address.host, port: address.port })
    const close = () => {
      conn.removeAllListeners()
      conn.on("error", () => {})
      conn.destroy()
    }
    conn.once("connect", () => {
      close()
      resume(Effect.succeed("other"))
    })
    conn.once("error", (e: NodeJS.ErrnoException) => {
      close()
      resume(Effect.succeed(e.code === "ECONNREFUSED" ? "refused" : "other"))
    })
    return Effect.sync(close)
  }).pipe(Effect.timeoutTo({ duration: "1 second", onTimeout: (): Probe => "other", onSuccess: (p) => p }))

/** Refused twice, 100 ms apart: nothing listens at the runner's address. */
export const refusesConnections = (address: RunnerAddress.RunnerAddress): Effect.Effect<boolean> =>
  Effect.flatMap(probe(address), (first) =>
    first === "refused"
      ? Effect.map(
          Effect.zipRight(Effect.sleep("100 millis"), probe(address)),
          (second) => second === "refused"
        )
      : Effect.succeed(false)
  )

/** `RunnerHealth` over the cluster's ping, with a refused connection taken as death. */
export const make: Effect.Effect<RunnerHealth.RunnerHealth["Type"], never, Runners.Runners> = Effect.gen(
  function* () {
    const runners = yield* Runners.Runners
    const stock = yield* Effect.scoped(RunnerHealth.makePing)
    const dead = (address: RunnerAddress.RunnerAddress) =>
      Effect.as(Effect.logDebug(`runner ${address.host}:${address.port} refuses connections: dead`), false)
    return RunnerHealth.RunnerHealth.of({
      isAlive: (address) =>
        // one ping first (a live runner answers it at once); when it fails, a refusal decides
        // at once, and anything else gets the stock policy (six pings, 500 ms apart)
        runners.ping(address).pipe(
          Effect.timeout("10 seconds"),
          Effect.as(true),
          Effect.catchAll(() =>
            Effect.flatMap(refusesConnections(address), (refused) =>
              refused ? dead(address) : stock.isAlive(address)
            )
          )
        )
    })
  }
)

/** The layer (in place of `RunnerHealth.layerPing`). */
export const layer: Layer.Layer<RunnerHealth.RunnerHealth, never, Runners.Runners> = Layer.effect(
  RunnerHealth.RunnerHealth,
  make
)
