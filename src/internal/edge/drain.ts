/**
 * The drain of a graceful stop with resume on: the edge stops accepting, parks every bound
 * session (closing its connection, so its client reconnects, to another front), then keeps
 * serving handovers until no session is parked here (each taken by another front) or the resume
 * `drain` time passed. A node runs it before its master link goes (the master routes the other
 * fronts' `TakeSession` to it meanwhile); what is left ends when the edge's scope closes.
 */
import { Duration, Effect } from "effect"
import type { ConnectionState } from "./connection.js"
import type { Edge } from "./edge.js"

/** How often the drain looks whether a session is left. */
const POLL = Duration.millis(20)

/** The drain of `edge`, given its parked sessions and how to stop its listeners accepting. */
export const make = (
  edge: Edge,
  parked: Map<number, ConnectionState>,
  stopAccepting: () => void
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const { drainMillis, resumeMillis } = edge.settings
    const { states, clock } = edge
    if (drainMillis === 0 || resumeMillis === 0) return Effect.void
    stopAccepting()
    let bound = 0
    for (const state of [...states.values()]) {
      if (state.resume !== undefined && !state.noPark) bound++
      // a bound session parks as its wire closes; any other connection ends
      state.socket.destroy()
    }
    if (bound === 0 && parked.size === 0) return Effect.void
    const until = clock.unsafeCurrentTimeMillis() + drainMillis
    const wait: Effect.Effect<void> = Effect.suspend(() =>
      (states.size === 0 && parked.size === 0) || clock.unsafeCurrentTimeMillis() >= until
        ? Effect.void
        : Effect.zipRight(Effect.sleep(POLL), wait)
    )
    return Effect.log(
      `stopping: ${bound + parked.size} sessions parked for another front to take (at most ${drainMillis} ms)`
    ).pipe(
      Effect.zipRight(wait),
      Effect.zipRight(
        Effect.suspend(() =>
          parked.size === 0
            ? Effect.log("stopping: every parked session was taken")
            : Effect.log(`stopping: ${parked.size} parked sessions end untaken`)
        )
      ),
      Effect.annotateLogs({ node: edge.settings.node })
    )
  })
