/**
 * The drain of a graceful stop with resume on: the edge stops accepting, parks every bound
 * session (closing its connection, so its client reconnects, to another front), then keeps
 * serving handovers until no session is parked here (each taken by another front) or the resume
 * `drain` time passed. What is left then goes to the master (`Handover.hold`), which holds it for
 * the rest of its window: its client resumes on any front, this one restarted too, with what it
 * missed. With no other front configured (`alone`) the drain does not wait for takes: once its
 * connections are closed the sessions go to the master at once.
 *
 * A node runs it before its master link goes (the master routes the other fronts' `TakeSession`
 * to it meanwhile); what is left ends when the edge's scope closes. It waits for takes and
 * closes on the edge's `changed` signal; only the short settle of the sessions' running
 * handlers before the hand to the master polls (every `SETTLE_POLL`, at most `SETTLE_MILLIS`).
 */
import { Deferred, Duration, Effect, Exit, FiberId } from "effect"
import type { Edge } from "./edge.js"
import type { Handover } from "./handoverWire.js"
import type { Resumes } from "./resume.js"

/** How long an alone front waits for its connections to close before its sessions go to the master. */
const QUIET_MILLIS = 1_000

/** How long the handlers of the sessions left get to answer before those go to the master. */
const SETTLE_MILLIS = 500

/** How often the drain looks whether the sessions' handlers are done (bounded by `SETTLE_MILLIS`). */
const SETTLE_POLL = Duration.millis(10)

/** Wait until `done()` (checked as the edge's connections change), at most `millis`. */
const waitUntil = (edge: Edge, done: () => boolean, millis: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (done() || millis <= 0) return Effect.void
    const latch = Deferred.unsafeMake<void>(FiberId.none)
    edge.changed = () => {
      if (done()) Deferred.unsafeDone(latch, Exit.void)
    }
    return Deferred.await(latch).pipe(
      Effect.timeoutOption(Duration.millis(millis)),
      Effect.asVoid,
      Effect.ensuring(
        Effect.sync(() => {
          edge.changed = undefined
        })
      )
    )
  })

/** Wait (bounded) until no parked session has a handler running, then hand them to the master. */
const toMaster = (
  edge: Edge,
  resumes: Pick<Resumes, "parked" | "release">,
  hold: NonNullable<Handover["Type"]["hold"]>
): Effect.Effect<string> => {
  const { clock } = edge
  const until = clock.unsafeCurrentTimeMillis() + SETTLE_MILLIS
  const settled = () => {
    for (const s of resumes.parked.values()) if (s.inFlight > 0 && !s.closed) return false
    return true
  }
  const settle: Effect.Effect<void> = Effect.suspend(() =>
    settled() || clock.unsafeCurrentTimeMillis() >= until
      ? Effect.void
      : Effect.zipRight(Effect.sleep(SETTLE_POLL), settle)
  )
  return Effect.zipRight(
    settle,
    Effect.suspend(() => {
      const left = resumes.parked.size
      const sessions = resumes.release()
      return Effect.map(
        sessions.length === 0 ? Effect.succeed(0) : hold(sessions),
        (kept) => `stopping: the master holds ${kept} of ${left} parked sessions for their resume`
      )
    })
  )
}

/** The drain of `edge`, given its resume side, how to stop its listeners accepting, its reach to the master. */
export const make = (
  edge: Edge,
  resumes: Pick<Resumes, "parked" | "release">,
  stopAccepting: () => void,
  handover: Handover["Type"] | undefined
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const { drainMillis, resumeMillis } = edge.settings
    const { states } = edge
    const { parked } = resumes
    if (drainMillis === 0 || resumeMillis === 0) return Effect.void
    stopAccepting()
    let bound = 0
    for (const state of [...states.values()]) {
      if (state.resume !== undefined && !state.noPark) bound++
      // a bound session parks as its wire closes; any other connection ends
      state.socket.destroy()
    }
    if (bound === 0 && parked.size === 0) return Effect.void
    const hold = handover?.hold
    const alone = hold !== undefined && handover?.alone === true
    // with the master to hand the rest to, the takes leave it time within the drain
    const forTakes = hold === undefined ? drainMillis : Math.max(0, drainMillis - SETTLE_MILLIS)
    const n = bound + parked.size
    return Effect.all(
      [
        Effect.log(
          alone
            ? `stopping: ${n} sessions parked, for the master to hold (no other front)`
            : `stopping: ${n} sessions parked for another front to take (at most ${drainMillis} ms)`
        ),
        waitUntil(
          edge,
          () => states.size === 0 && (alone || parked.size === 0),
          alone ? QUIET_MILLIS : forTakes
        ),
        Effect.flatMap(
          Effect.suspend(() =>
            parked.size === 0
              ? Effect.succeed("stopping: every parked session was taken")
              : hold === undefined
                ? Effect.succeed(`stopping: ${parked.size} parked sessions end untaken`)
                : toMaster(edge, resumes, hold)
          ),
          Effect.log
        )
      ],
      { discard: true }
    ).pipe(Effect.annotateLogs({ node: edge.settings.node }))
  })
