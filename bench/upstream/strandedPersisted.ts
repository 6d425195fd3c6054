/**
 * A minimal reproduction, against stock @effect/cluster 0.60 (no hotaru code), of "a stopping runner
 * strands the callers of its persisted requests" (docs/upstream-cluster-cost.md):
 *
 * A runner's `Runners.Rpcs` server (stock `RpcServer.layer` + `RpcServer.layerProtocolSocketServer`
 * on a `NodeSocketServer` bound to 127.0.0.1:0, msgpack) has an `Effect` handler that waits, as
 * `RunnerServer`'s persisted handler waits on `storage.registerReplyHandler` for a reply. The caller
 * is the cluster's own runner RPC client (`Runners.makeRpcClient` over
 * `NodeClusterSocket.layerClientProtocol`), sending `Effect({ request, persisted: true })` as
 * `Runners.makeRpc` does for a persisted entity request. When the handler has the request, the
 * server's scope is closed (a graceful stop). The caller's call ends with an interrupt-only `Exit`:
 * not `RunnerUnavailable` nor `EntityNotAssignedToRunner`, the failures `Runners.notify`'s
 * `Effect.catchAll` turns into a read of the reply from storage, so the entity client's caller is
 * interrupted although the message stays in storage and the next owner processes it.
 *
 * For contrast, the same call to a runner that dies without a graceful stop (the connection cut
 * under it by a TCP relay in between, the server's fibers never interrupted) fails with
 * `RpcClientError`, which `makeRpc` maps to `RunnerUnavailable`: the path that does read from
 * storage.
 *
 *   node --import tsx bench/upstream/strandedPersisted.ts [--n 3]
 *
 * Prints, per try, the `Exit` of each call (its cause's shape and failure tag) and ms from the stop.
 * Exits 1 when the persisted call did not end interrupt-only (the report no longer reproduces).
 *
 * Suggested upstream fixes: in `Runners.notify` (or `makeRpc`'s `send` for persisted requests) treat
 * an interruption that comes from the remote runner like `RunnerUnavailable` and read the reply from
 * storage; or have `RunnerServer`'s persisted `Effect`/`Stream` handlers answer
 * `EntityNotAssignedToRunner` when the server's shutdown interrupts them.
 */
import * as net from "node:net"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as Runners from "@effect/cluster/Runners"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SocketServer from "@effect/platform/SocketServer"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as RpcClient from "@effect/rpc/RpcClient"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as RpcServer from "@effect/rpc/RpcServer"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { numberArg, parseArgs } from "../args.js"
import { request, waitingHandlers } from "./waitingRunner.js"

const args = parseArgs(process.argv.slice(2))
const tries = numberArg(args, "n", 3)

/** A runner's `Runners.Rpcs` server on 127.0.0.1:0 whose `Effect` handler waits for ever. */
const runnerServer = (received: Deferred.Deferred<void>) =>
  RpcServer.layer(Runners.Rpcs, { disableTracing: true, disableFatalDefects: true }).pipe(
    Layer.provide(waitingHandlers(received)),
    Layer.provide(RpcServer.layerProtocolSocketServer),
    Layer.provideMerge(NodeSocketServer.layer({ host: "127.0.0.1", port: 0 })),
    Layer.provide(RpcSerialization.layerMsgPack)
  )

/** A TCP relay on 127.0.0.1:0 to `port`; `cut` destroys every connection through it. */
const relay = (port: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly cut: () => void; readonly server: net.Server }>(
      (resume) => {
        const sockets = new Set<net.Socket>()
        const server = net.createServer((inbound) => {
          const outbound = net.connect({ host: "127.0.0.1", port })
          sockets.add(inbound).add(outbound)
          inbound.pipe(outbound).pipe(inbound)
          inbound.on("error", () => outbound.destroy())
          outbound.on("error", () => inbound.destroy())
        })
        server.listen(0, "127.0.0.1", () =>
          resume(
            Effect.succeed({
              port: (server.address() as net.AddressInfo).port,
              cut: () => {
                for (const s of sockets) s.destroy()
              },
              server
            })
          )
        )
      }
    ),
    ({ cut, server }) =>
      Effect.sync(() => {
        cut()
        server.close()
      })
  )

const describeExit = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "success"
  if (Cause.isInterruptedOnly(exit.cause)) return "interrupt-only"
  const failure = Cause.failureOption(exit.cause)
  return Option.match(failure, {
    onNone: () => `defect: ${Cause.pretty(exit.cause).split("\n")[0]}`,
    onSome: (e) =>
      `failure ${typeof e === "object" && e !== null && "_tag" in e ? String(e._tag) : String(e)}`
  })
}

/**
 * One persisted call in flight while its runner stops; `graceful`: the server's scope is closed
 * (its handler fibers interrupted, then the socket); otherwise the connection is cut in between.
 */
const callWhileRunnerStops = (n: number, graceful: boolean) =>
  Effect.gen(function* () {
    const received = yield* Deferred.make<void>()
    const runnerScope = yield* Scope.make()
    const ctx = yield* Layer.buildWithScope(runnerServer(received), runnerScope)
    const address = Context.get(ctx, SocketServer.SocketServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("not a TCP address")
    const through = yield* relay(address.port)
    const runner = RunnerAddress.make("127.0.0.1", through.port)
    const connect = yield* Effect.provide(
      Runners.RpcClientProtocol,
      NodeClusterSocket.layerClientProtocol.pipe(
        Layer.provide([RpcSerialization.layerMsgPack, ShardingConfig.layer()])
      )
    )
    const clientScope = yield* Scope.make()
    const protocol = yield* Scope.extend(connect(runner), clientScope)
    const client = yield* Effect.provideService(Runners.makeRpcClient, RpcClient.Protocol, protocol).pipe(
      Scope.extend(clientScope)
    )
    const call = yield* Effect.fork(client.Effect({ request: request(n), persisted: true }))
    yield* Deferred.await(received).pipe(Effect.timeout("10 seconds"))
    const t0 = performance.now()
    if (graceful) yield* Scope.close(runnerScope, Exit.void)
    else through.cut()
    const exit = yield* Fiber.await(call).pipe(Effect.timeout("10 seconds"))
    const ms = performance.now() - t0
    yield* Scope.close(clientScope, Exit.void)
    yield* Scope.close(runnerScope, Exit.void)
    return { exit, ms }
  })

const main = Effect.gen(function* () {
  console.log(
    "a persisted Runners.Effect call in flight while its runner stops (stock RpcServer + Runners.Rpcs)"
  )
  let reproduced = 0
  for (let i = 0; i < tries; i++) {
    const graceful = yield* Effect.scoped(callWhileRunnerStops(2 * i, true))
    const cut = yield* Effect.scoped(callWhileRunnerStops(2 * i + 1, false))
    if (Exit.isFailure(graceful.exit) && Cause.isInterruptedOnly(graceful.exit.cause)) reproduced++
    console.log(
      `try ${i + 1}: graceful stop -> ${describeExit(graceful.exit)} (${graceful.ms.toFixed(1)} ms); ` +
        `connection cut -> ${describeExit(cut.exit)} (${cut.ms.toFixed(1)} ms)`
    )
  }
  console.log(
    `\n${reproduced} of ${tries}: the caller of a persisted request saw an interruption, which ` +
      "Runners.notify's catchAll does not turn into a read of the reply from storage"
  )
  if (reproduced !== tries) process.exitCode = 1
})

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
