/**
 * A runner that stops while it serves a persisted request: the caller gets the cluster's
 * `EntityNotAssignedToRunner` (its cue to read the reply from storage), not an interruption that
 * would end the caller's fiber without a reply (issue 19, W8). Real sockets, hotaru's runner
 * transport, the cluster's own `Runners` RPC client and server.
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as Runners from "@effect/cluster/Runners"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as RpcClient from "@effect/rpc/RpcClient"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as RpcServer from "@effect/rpc/RpcServer"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Option, Scope } from "effect"
import { request, waitingHandlers } from "../bench/upstream/waitingRunner.js"
import * as RunnerSocket from "../src/internal/cluster/runnerSocket.js"
import { freePort } from "./support/ports.js"

/** A runner's `Runners` RPC server whose `Effect` requests wait for ever (until it stops). */
const runnerServer = (received: Deferred.Deferred<void>) =>
  RpcServer.layer(Runners.Rpcs, { disableTracing: true, disableFatalDefects: true }).pipe(
    Layer.provide(waitingHandlers(received)),
    Layer.provide(RpcServer.layerProtocolSocketServer),
    Layer.provide(RunnerSocket.layerSocketServer({ secret: undefined }))
  )

/** The exit of a `Runners.Effect` call in flight while its runner stops. */
const callWhileRunnerStops = (persisted: boolean) =>
  Effect.gen(function* () {
    const port = yield* Effect.promise(freePort)
    const address = RunnerAddress.make("127.0.0.1", port)
    const config = ShardingConfig.layer({ runnerAddress: Option.some(address) })
    const received = yield* Deferred.make<void>()
    const runnerScope = yield* Scope.make()
    yield* Layer.buildWithScope(
      runnerServer(received).pipe(Layer.provide([config, RpcSerialization.layerMsgPack])),
      runnerScope
    )
    const connect = yield* Effect.provide(
      Runners.RpcClientProtocol,
      RunnerSocket.layerClientProtocol({ secret: undefined }).pipe(
        Layer.provide(RpcSerialization.layerMsgPack)
      )
    )
    const protocol = yield* connect(address)
    const client = yield* Effect.provideService(Runners.makeRpcClient, RpcClient.Protocol, protocol)
    const call = yield* Effect.fork(client.Effect({ request: request(persisted ? 1 : 2), persisted }))
    yield* Deferred.await(received).pipe(Effect.timeout("10 seconds"))
    // the runner stops: its RPC server interrupts the handler still waiting
    yield* Scope.close(runnerScope, Exit.void)
    return yield* Fiber.await(call).pipe(Effect.timeout("10 seconds"))
  })

describe("a runner that stops gracefully", () => {
  it.scopedLive(
    "answers its persisted requests in flight EntityNotAssignedToRunner, not an interruption",
    () =>
      Effect.gen(function* () {
        const exit = yield* callWhileRunnerStops(true)
        expect(Exit.isFailure(exit) && Cause.isInterrupted(exit.cause)).toBe(false)
        const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        expect(Option.map(error, (e) => e._tag)).toEqual(Option.some("EntityNotAssignedToRunner"))
        // the address is the request's (the cluster's storage path keys on the request, not on it)
        expect(Option.map(error, (e) => "address" in e && String(e.address.entityId))).toEqual(
          Option.some("room1")
        )
      })
  )

  it.scopedLive("keeps the interruption of a non-persisted request (it is not stored: nothing to read)", () =>
    Effect.gen(function* () {
      const exit = yield* callWhileRunnerStops(false)
      expect(Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)).toBe(true)
    })
  )
})
