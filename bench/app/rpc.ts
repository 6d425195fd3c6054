/**
 * The RPC group of the bench: what the backend node serves (W2's hop, W5) and what stock
 * `@effect/rpc` serves in W5. No hotaru import, so the stock processes load only `@effect/rpc`.
 */
import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"

/** Echo the body back. */
export class EchoRpc extends RpcGroup.make(
  Rpc.make("echo", { payload: { body: Schema.Uint8ArrayFromSelf }, success: Schema.Uint8ArrayFromSelf })
) {}

/** The name the backend node registers as (the net node's parent). */
export const BACKEND = "backend"
