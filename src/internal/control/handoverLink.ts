/**
 * A front's reach to the other fronts for resume tokens they issued: through the master
 * (`PlayersService.TakeSession`), as `Players` reaches players. A link failure is a refusal
 * (`Unknown`): the client logs in again.
 *
 * @internal
 */
import type { RpcClient, RpcGroup } from "@effect/rpc"
import { Effect, Layer } from "effect"
import { Handover } from "../edge/handoverWire.js"
import { ResumeRefused } from "../edge/resumeWire.js"
import type { NodeUnavailable } from "../rpc/wireErrors.js"
import { PlayersService } from "./playersRpc.js"

type Master = RpcClient.RpcClient<RpcGroup.Rpcs<typeof PlayersService>, NodeUnavailable>

/** The handover through the master, given how to reach it (`Remote.client`). */
export const layer = <R>(
  client: (name: "master", group: typeof PlayersService) => Effect.Effect<Master, never, R>
): Layer.Layer<Handover, never, R> =>
  Layer.effect(
    Handover,
    Effect.map(client("master", PlayersService), (master) => ({
      take: (node, request) =>
        master
          .TakeSession({ node, ...request })
          .pipe(
            Effect.catchAll((e) =>
              Effect.fail(e._tag === "ResumeRefused" ? e : new ResumeRefused({ reason: "Unknown" }))
            )
          )
    }))
  )
