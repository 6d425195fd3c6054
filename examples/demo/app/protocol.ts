/**
 * The demo's typed definitions, shared by the nodes, the client and the tests.
 */
import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import { NetCommand, NodeError } from "hotaru-rt"

/** Client commands of the `net` node (firefly's netHandle_100/200/300). */
export const NetHandle100 = NetCommand.text(100, { name: "netHandle_100" })
export const NetHandle200 = NetCommand.text(200, { name: "netHandle_200" })
export const NetHandle300 = NetCommand.text(300, { name: "netHandle_300" })

/** What `gate` offers its children (firefly's `@rootserviceHandle`). */
export class GateService extends RpcGroup.make(
  Rpc.make("gateHandle1", { payload: { data: Schema.String }, success: Schema.String }),
  Rpc.make("gateHandle2", {
    payload: { data: Schema.String },
    success: Schema.String,
    error: NodeError.NodeUnavailable
  })
) {}

/** What `game1` offers its parent `gate` (firefly's `@remoteserviceHandle('gate')`). */
export class Game1Service extends RpcGroup.make(
  Rpc.make("game1Handle", { payload: { data: Schema.String }, success: Schema.String })
) {}
