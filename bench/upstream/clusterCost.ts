/**
 * A minimal reproduction, against stock @effect/cluster 0.60 (no hotaru code), of a per-message
 * cost the W6 profiles show in the engine (docs/upstream-cluster-cost.md): the runner RPC client
 * (`Runners.makeRpc`, `RpcClient.make(Runners.Rpcs)`) re-validates every outgoing `Effect` request
 * with `rpc.payloadSchema.make(payload)` (`Schema.Struct.make`, a full `validateSync` of the type
 * side: the `EntityAddress` and `ShardId` classes, the `Snowflake`, the headers) although the
 * cluster itself just built that value from already-typed parts, and `Message.serializeRequest`
 * has already encoded the entity's payload.
 *
 *   node --import tsx bench/upstream/clusterCost.ts [--n 50000]
 *
 * Prints µs per call of: that `make` (what RpcClient does per request), the same value passed
 * through as is (what a client with `make` skipped would do), and for scale the msgpack encode of
 * the request the socket protocol sends.
 */
import * as EntityAddress from "@effect/cluster/EntityAddress"
import * as Runners from "@effect/cluster/Runners"
import * as ShardId from "@effect/cluster/ShardId"
import * as Snowflake from "@effect/cluster/Snowflake"
import * as Headers from "@effect/platform/Headers"
import { Packr } from "msgpackr"
import { numberArg, parseArgs } from "../args.js"

const args = parseArgs(process.argv.slice(2))
const n = numberArg(args, "n", 50_000)

const rpc = Runners.Rpcs.requests.get("Effect")!
// what Runners.send passes to `client.Effect(...)` for a `state {room}` call: the envelope with
// the entity payload already encoded by Message.serializeRequest
const payloadOf = (i: number) => ({
  request: {
    _tag: "Request" as const,
    requestId: Snowflake.Snowflake(BigInt(1_000_000 + i)),
    address: new EntityAddress.EntityAddress({
      shardId: ShardId.make("default", 1 + (i % 60)),
      entityType: "Room" as EntityAddress.EntityAddress["entityType"],
      entityId: `room${i % 100}` as EntityAddress.EntityAddress["entityId"]
    }),
    tag: "State",
    payload: {},
    headers: Headers.empty
  },
  persisted: false
})
const payloads = Array.from({ length: 1000 }, (_, i) => payloadOf(i))

const time = (label: string, f: (i: number) => unknown) => {
  for (let i = 0; i < 5000; i++) f(i) // warm up
  const t0 = process.hrtime.bigint()
  let sink = 0
  for (let i = 0; i < n; i++) if (f(i) !== undefined) sink++
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n
  console.log(`${label.padEnd(64)} ${us.toFixed(2).padStart(7)} µs/call (${sink === n ? "ok" : "?"})`)
  return us
}

const make = (rpc.payloadSchema as unknown as { make: (u: unknown) => unknown }).make
console.log(`@effect/cluster Runners.Rpcs "Effect": ${n} calls each`)
const validated = time("payloadSchema.make(payload)  (RpcClient.onRequest, per request)", (i) =>
  make(payloads[i % payloads.length])
)
const passed = time("payload as is (no re-validation)", (i) => payloads[i % payloads.length])
const packr = new Packr()
const wire = (i: number) => {
  const p = payloads[i % payloads.length]!
  return { ...p, request: { ...p.request, requestId: String(p.request.requestId) } }
}
const packed = time("msgpack encode of the request (for scale)", (i) => packr.pack(wire(i)))
console.log(
  `\nre-validation costs ${(validated - passed).toFixed(2)} µs per outgoing request, ` +
    `${(validated / packed).toFixed(1)} x its msgpack encode`
)
