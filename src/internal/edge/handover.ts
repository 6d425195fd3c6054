/**
 * The machinery of a session moving between fronts: the old front waits (bounded) for the
 * session's running handlers so their replies are in its replay ring, then turns the ring into
 * the frames to hand over; the new front bounds how many takes it has in flight.
 *
 * @internal
 */
import { Effect, Either } from "effect"
import { type ConnectionState, HOLD_RESUME, Resumable } from "./connection.js"
import type { Edge } from "./edge.js"
import type { Flow } from "./flow.js"
import * as Frame from "./frame.js"
import { type HeldSession, type SessionHandover, type SessionTake, tokenNode } from "./handoverWire.js"
import { ResumeRefused, type ResumeRequest } from "./resumeWire.js"

/** How long the old front waits for a session's handlers to settle before it gives up (Resync). */
export const SETTLE_MILLIS = 2_000

/** How long the new front waits for a take, end to end (the master's call to the old front included). */
export const TAKE_MILLIS = 5_000

/** Takes one front has in flight at most: past it a foreign token is refused at once. */
export const MAX_TAKES = 64

/**
 * The most frame bytes handed over (under the link's 4 MiB frame): a session whose missed frames
 * are more is not moved (the client resyncs).
 */
export const MAX_BYTES = 3 * 1024 * 1024

/** Wait until the session has no handler running, it ends, or `until` (epoch millis) passes. */
export const settle = (session: ConnectionState, now: () => number, until: number): Effect.Effect<void> =>
  Effect.suspend(() =>
    session.inFlight === 0 || session.closed || now() >= until
      ? Effect.void
      : Effect.zipRight(Effect.sleep("10 millis"), settle(session, now, until))
  )

/** The handover of `session` with the frames `missed` (whole frames of its ring); undefined past `MAX_BYTES`. */
export const snapshot = (
  session: ConnectionState,
  uid: string,
  missed: ReadonlyArray<Buffer>
): SessionHandover | undefined => {
  let bytes = 0
  const frames: Array<SessionHandover["frames"][number]> = []
  for (const buf of missed) {
    bytes += buf.length
    if (bytes > MAX_BYTES) return undefined
    frames.push({ command: buf.readUInt32BE(13), body: buf.subarray(Frame.HEADER_SIZE) })
  }
  return { uid, channels: [...(session.channels ?? [])], requests: session.requests, frames }
}

/** What the handover needs of its edge's resume side. */
export interface Context {
  readonly edge: Edge
  readonly flow: Flow
  readonly host: {
    readonly end: (state: ConnectionState) => void
    readonly take:
      | ((node: string, request: SessionTake) => Effect.Effect<SessionHandover, ResumeRefused>)
      | undefined
    readonly adopt: (state: ConnectionState, handover: SessionHandover) => boolean
  }
  /** Send a refusal; whether parsing goes on. */
  readonly refuse: (state: ConnectionState, reason: ResumeRefused["reason"]) => boolean
  /** The session a request names here, or why not (a local resume's checks). */
  readonly find: (
    request: typeof ResumeRequest.Type,
    now: number
  ) => ConnectionState | ResumeRefused["reason"]
  readonly forget: (state: ConnectionState, expired: boolean) => void
  /** Remember a token of a session that ended, for a window. */
  readonly endToken: (token: string, reason: "Expired" | "Used") => void
  /** The parked sessions, by connection id. */
  readonly parked: Map<number, ConnectionState>
  /** The sessions by current token, and by their last replaced one. */
  readonly tokens: Map<string, ConnectionState>
  readonly retired: Map<string, ConnectionState>
  /** A new token of the session (mapped). */
  readonly newToken: (state: ConnectionState) => string
  /** Send a system frame. */
  readonly system: (state: ConnectionState, command: number, value: unknown) => void
}

/** Spend the session's token (a resume or take of it is `Used` now); the token. */
const spendToken = (ctx: Context, session: ConnectionState): string => {
  const resume = session.resume!
  const token = resume.token
  ctx.tokens.delete(token)
  if (resume.retired !== undefined) ctx.retired.delete(resume.retired)
  resume.retired = token
  ctx.retired.set(token, session)
  return token
}

/**
 * End the parked sessions as handed to the master (a stopping front's drain): their snapshots
 * with whole rings. A session with a handler still running, or whose ring is past `MAX_BYTES`,
 * is not handed over (it ends with the edge: its client logs in again).
 */
const release = (ctx: Context): Array<HeldSession> => {
  const { clock, settings } = ctx.edge
  const now = clock.unsafeCurrentTimeMillis()
  const held: Array<HeldSession> = []
  for (const session of [...ctx.parked.values()]) {
    const resume = session.resume
    if (session.closed || resume === undefined || session.inFlight > 0) continue
    const first = resume.first
    const snap = snapshot(session, session.uid!, resume.since(first) ?? [])
    const ttl = Math.min(86_400_000, Math.max(0, Math.floor(session.parkedUntil - now)))
    if (snap === undefined || ttl === 0) continue
    const token = spendToken(ctx, session)
    session.noPark = true
    ctx.forget(session, false)
    ctx.host.end(session)
    ctx.endToken(token, "Used")
    held.push({
      ...snap,
      token,
      first,
      ttl,
      maxFrames: Math.min(1_000_000, settings.resumeFrames),
      maxBytes: Math.min(1024 * 1024 * 1024, settings.resumeBytes)
    })
  }
  return held
}

/** Both sides of a session moving between fronts. */
export const make = (ctx: Context) => {
  const { edge, flow, host, refuse } = ctx
  const { clock, settings } = edge
  let takes = 0

  const spend = (session: ConnectionState) => spendToken(ctx, session)

  /** Bind the connection to a session handed over by `from`: its counters go on, its missed frames replay. */
  const adopt = (state: ConnectionState, handover: SessionHandover, received: number, from: string) => {
    if (!host.adopt(state, handover)) {
      refuse(state, "Unknown")
      return flow.release(state, HOLD_RESUME)
    }
    // its counters go on from the client's: what it has, what the old front received
    const { requests } = handover
    const token = ctx.newToken(state)
    state.requests = requests
    state.sentFrames = received
    state.resume = new Resumable(token, received, settings.resumeFrames, settings.resumeBytes)
    ctx.system(state, Frame.RESUME_COMMAND, { _tag: "ResumeOk", requests, token })
    for (const f of handover.frames) flow.write(state, Frame.encodeBuffer(settings.frame, f.command, f.body))
    edge.count("resumes")
    edge.runPlain(
      Effect.log(`Client ${state.info.id} resumed the session of ${handover.uid} from node ${from}`).pipe(
        edge.annotate(state.info)
      )
    )
    flow.release(state, HOLD_RESUME)
  }

  /** The take's answer, for a connection held since its `Resume` frame. */
  const taken = (
    state: ConnectionState,
    request: typeof ResumeRequest.Type,
    owner: string,
    result: Either.Either<SessionHandover, ResumeRefused>
  ) => {
    takes--
    if (state.closed || state.socket.destroyed) {
      if (Either.isRight(result)) {
        const uid = result.right.uid
        edge.runPlain(
          Effect.logWarning(`Client ${state.info.id} left while the session of ${uid} moved here: it ends`)
        )
      }
      return
    }
    try {
      if (Either.isRight(result)) return adopt(state, result.right, request.received, owner)
      refuse(state, result.left.reason)
      flow.release(state, HOLD_RESUME)
    } catch (defect) {
      flow.edgeDefect(state, defect)
    }
  }

  /** A token of front `owner`: take its session from there (the connection waits, held); whether parsing goes on. */
  const foreign = (state: ConnectionState, request: typeof ResumeRequest.Type, owner: string): boolean => {
    const take = host.take
    const { uid } = request
    if (take === undefined || takes >= MAX_TAKES || uid.length === 0 || uid.length > 256) {
      return refuse(state, "Unknown")
    }
    takes++
    flow.hold(state, HOLD_RESUME)
    const unknown = () => new ResumeRefused({ reason: "Unknown" })
    edge.runPlain(
      take(owner, request).pipe(
        Effect.timeoutFail({ duration: TAKE_MILLIS, onTimeout: unknown }),
        Effect.catchAllDefect(() => Effect.fail(unknown())),
        Effect.either,
        Effect.flatMap((result) => Effect.sync(() => taken(state, request, owner, result)))
      )
    )
    return false
  }

  /** Hand the session a token of this node names over to another front; its copy here ends as moved. */
  const give = (request: SessionTake): Effect.Effect<SessionHandover, ResumeRefused> =>
    Effect.suspend(() => {
      const refused = (reason: ResumeRefused["reason"]) => {
        edge.count("resumesRefused")
        return Effect.fail(new ResumeRefused({ reason }))
      }
      if (settings.resumeMillis === 0 || tokenNode(request.token) !== settings.node) return refused("Unknown")
      const found = ctx.find(request, clock.unsafeCurrentTimeMillis())
      if (typeof found === "string") return refused(found)
      const session = found
      const token = spend(session)
      // a live session's wire goes (the client is elsewhere): it parks, its handlers go on
      if (session.parkedUntil === 0) session.socket.destroy()
      const now = () => clock.unsafeCurrentTimeMillis()
      return Effect.flatMap(settle(session, now, now() + SETTLE_MILLIS), () => {
        if (session.closed) return refused("Unknown")
        const missed = session.inFlight === 0 ? session.resume?.since(request.received) : undefined
        const handover = missed === undefined ? undefined : snapshot(session, session.uid!, missed)
        // ended as moved: its close hooks run, the uid is free here (the new front binds it)
        session.noPark = true
        ctx.forget(session, false)
        host.end(session)
        ctx.endToken(token, "Used")
        if (handover === undefined) return refused("Resync")
        edge.runPlain(
          Effect.log(`Session of ${session.uid} handed over to another front`).pipe(
            edge.annotate(session.info)
          )
        )
        return Effect.succeed(handover)
      })
    })

  return { foreign, give, release: () => release(ctx) }
}
