/**
 * Pieces of a runner whose persisted request is in flight when it stops, stock @effect/cluster
 * only: shared by `strandedPersisted.ts` and hotaru's `test/runnerDrain.test.ts` (the same setup
 * over hotaru's runner socket and its workaround).
 */
import * as EntityAddress from "@effect/cluster/EntityAddress"
import * as EntityId from "@effect/cluster/EntityId"
import * as EntityType from "@effect/cluster/EntityType"
import * as Runners from "@effect/cluster/Runners"
import * as ShardId from "@effect/cluster/ShardId"
import * as Snowflake from "@effect/cluster/Snowflake"
import * as Headers from "@effect/platform/Headers"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/** `Runners.Rpcs` handlers whose `Effect` request waits for ever, after completing `received`. */
export const waitingHandlers = (received: Deferred.Deferred<void>) =>
  Runners.Rpcs.toLayer({
    Ping: () => Effect.void,
    Notify: () => Effect.void,
    Effect: () => Effect.zipRight(Deferred.succeed(received, undefined), Effect.never),
    Stream: () => Stream.never,
    Envelope: () => Effect.void
  })

/** A `Say` request to room `n` on shard `default:1`, as `Runners.Effect` carries it. */
export const request = (n: number) => ({
  _tag: "Request" as const,
  requestId: Snowflake.Snowflake(BigInt(1000 + n)),
  address: EntityAddress.make({
    shardId: ShardId.make("default", 1),
    entityType: EntityType.EntityType.make("Room"),
    entityId: EntityId.make(`room${n}`)
  }),
  tag: "Say",
  payload: { text: "x" },
  headers: Headers.empty
})
