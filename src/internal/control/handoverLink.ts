/**
 * A front's reach to the other fronts for resume tokens they issued: through the master
 * (`PlayersService.TakeSession`), as `Players` reaches players. A link failure is a refusal
 * (`Unknown`): the client logs in again. A stopping front hands its sessions to the master
 * (`HoldSessions`), in calls of at most `BATCH_BYTES` of frames (under the link's frame cap).
 *
 * @internal
 */
import type { RpcClient, RpcGroup } from "@effect/rpc"
import { Effect, Layer } from "effect"
import { Handover, type HeldSession } from "../edge/handoverWire.js"
import { ResumeRefused } from "../edge/resumeWire.js"
import type { NodeUnavailable } from "../rpc/wireErrors.js"
import { PlayersService } from "./playersRpc.js"

type Master = RpcClient.RpcClient<RpcGroup.Rpcs<typeof PlayersService>, NodeUnavailable>

/** Frame bytes of one `HoldSessions` call at most (a session larger than this goes alone). */
export const BATCH_BYTES = 2 * 1024 * 1024

/** The sessions in calls of at most `BATCH_BYTES` of frames each. */
export const batches = (sessions: ReadonlyArray<HeldSession>): Array<Array<HeldSession>> => {
  const out: Array<Array<HeldSession>> = []
  let batch: Array<HeldSession> = []
  let bytes = 0
  for (const s of sessions) {
    const size = s.frames.reduce((n, f) => n + f.body.length + 16, 256)
    if (batch.length > 0 && bytes + size > BATCH_BYTES) {
      out.push(batch)
      batch = []
      bytes = 0
    }
    batch.push(s)
    bytes += size
  }
  if (batch.length > 0) out.push(batch)
  return out
}

/**
 * The handover through the master, given how to reach it (`Remote.client`); `alone`: no other
 * front is configured (a stopping front then hands its sessions to the master at once).
 */
export const layer = <R>(
  client: (name: "master", group: typeof PlayersService) => Effect.Effect<Master, never, R>,
  alone = false
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
          ),
      hold: (sessions) =>
        Effect.reduce(batches(sessions), 0, (kept, batch) =>
          master.HoldSessions({ sessions: batch }).pipe(
            Effect.map((n) => kept + n),
            Effect.catchAll((e) =>
              Effect.as(
                Effect.logWarning(
                  `the master did not confirm holding ${batch.length} sessions (a hold it read late may still land)`,
                  e
                ),
                kept
              )
            )
          )
        ),
      alone
    }))
  )
