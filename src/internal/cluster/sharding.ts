/**
 * The @effect/cluster layers of a runner or an entity client: socket transport (the cluster's own
 * protocol behind hotaru's handshake, `runnerSocket.ts`),
 * SQL runner and message storage, ping health checks (a refused connection: dead at once), and on
 * a runner the watch of its peers (`peerWatch.ts`).
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as Runners from "@effect/cluster/Runners"
import type * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SocketRunner from "@effect/cluster/SocketRunner"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Layer, Option } from "effect"
import * as Leaving from "./leaving.js"
import * as PeerWatch from "./peerWatch.js"
import * as ResetShards from "./resetShards.js"
import * as RunnerHealth from "./runnerHealth.js"
import * as RunnerSocket from "./runnerSocket.js"
import * as StallGuard from "./stallGuard.js"

export const address = (host: string, port: number): RunnerAddress.RunnerAddress =>
  RunnerAddress.RunnerAddress.make({ host, port })

/** Largest message the runner transport decodes (entity payloads are small game messages). */
const maxBufferSize = 4 * 1024 * 1024

export const layer = (
  config: ShardingConfig.ShardingConfig["Type"],
  prefix: string,
  socket: RunnerSocket.Options
): Layer.Layer<Sharding.Sharding, { readonly message: string }, SqlClient.SqlClient> => {
  const isRunner = Option.isSome(config.runnerAddress)
  const clientProtocol = RunnerSocket.layerClientProtocol(socket)
  const transport = isRunner
    ? PeerWatch.layer.pipe(
        // every runner also marks a peer whose port refuses unhealthy (peerWatch.ts)
        Layer.provideMerge(
          SocketRunner.layer.pipe(
            Layer.provide([RunnerSocket.layerSocketServer(socket), clientProtocol]),
            Layer.provide(
              RunnerHealth.layer.pipe(Layer.provide(Runners.layerRpc), Layer.provide(clientProtocol))
            )
          )
        )
      )
    : SocketRunner.layerClientOnly.pipe(Layer.provide(clientProtocol))
  return transport.pipe(
    Layer.provide(
      // a runner that was frozen reads no message until its locks were checked (stallGuard.ts)
      StallGuard.guard(
        // a shard's new owner sees what its last owner read but did not process (resetShards.ts)
        ResetShards.retrying(SqlMessageStorage.layerWith({ prefix })),
        // a stopping runner lets go of its shard locks before it leaves the runner table (leaving.ts)
        Leaving.releaseFirst(SqlRunnerStorage.layerWith({ prefix })),
        StallGuard.stallOf(config.shardLockExpiration, config.shardLockRefreshInterval)
      )
    ),
    Layer.provide(ShardingConfig.layer(config)),
    Layer.provide(RpcSerialization.layerMsgPackWith({ maxBufferSize }))
  ) as Layer.Layer<Sharding.Sharding, { readonly message: string }, SqlClient.SqlClient>
}
