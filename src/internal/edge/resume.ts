/**
 * Session resume: a bound session whose connection drops is parked for the edge's window, not
 * ended; a client that comes back on a new connection with its resume token gets the session
 * back (uid, session data, channels, handlers still running), the frames it missed replayed in
 * order, and learns how many of its requests the server had received (it re-sends the rest).
 *
 * Tokens are `<node>.<128 random bits>` (from `node:crypto`: a resume token is a credential, and
 * `Random` is not a cryptographic generator), bound to the uid, single-use (a resume rotates
 * it), and end with their session. Refusals are typed (`ResumeRefused`) and cost no connection:
 * the client logs in again on it.
 */
import { randomBytes } from "node:crypto"
import { Effect, Either, Schema } from "effect"
import { type ConnectionState, HOLD_CLOSED, HOLD_IN_FLIGHT, HOLD_RESUME, Resumable } from "./connection.js"
import type { Edge } from "./edge.js"
import type { Flow } from "./flow.js"
import * as Frame from "./frame.js"
import * as Give from "./handover.js"
import { type HeldSession, type SessionHandover, type SessionTake, tokenNode } from "./handoverWire.js"
import { ResumeRefused, ResumeRequest } from "./resumeWire.js"

/** The largest `Resume` body read. */
const MAX_BODY = 1024

const decodeRequest = Schema.decodeUnknownEither(Schema.parseJson(ResumeRequest))
const utf8 = new TextDecoder("utf-8", { fatal: true })

/** A `Resume` body, if it is one. */
const parse = (body: Uint8Array): typeof ResumeRequest.Type | undefined => {
  try {
    return Either.getOrUndefined(decodeRequest(utf8.decode(body)))
  } catch {
    return undefined
  }
}

/** The connection no longer counts in its IP's open connections. */
export const uncountIp = (perIp: Map<string, number>, state: ConnectionState): void => {
  if (!state.perIp) return
  state.perIp = false
  const ip = state.info.remoteAddress
  const n = (perIp.get(ip) ?? 1) - 1
  if (n <= 0) perIp.delete(ip)
  else perIp.set(ip, n)
}

/** What resume needs of the core. */
export interface Host {
  /** The connections open now. */
  readonly states: Map<number, ConnectionState>
  /** End a bound session (its disconnect and close hooks run). */
  readonly end: (state: ConnectionState) => void
  /** Take a session from the front that issued its token (none: a foreign token is `Unknown`). */
  readonly take:
    | ((node: string, request: SessionTake) => Effect.Effect<SessionHandover, ResumeRefused>)
    | undefined
  /** Bind a connection to a session handed over (uid, channels, bind hooks); false if refused. */
  readonly adopt: (state: ConnectionState, handover: SessionHandover) => boolean
}

/** The resume side of one edge. */
export interface Resumes {
  /** Sessions parked now, by connection id. */
  readonly parked: Map<number, ConnectionState>
  /** A connection was just bound: give it a token (sent as a system frame), if resume is on. */
  readonly issue: (state: ConnectionState) => void
  /** A `Resume` frame; returns whether parsing goes on. */
  readonly frame: (state: ConnectionState, body: Uint8Array) => boolean
  /** The connection's wire closed: park its session; false when it cannot be parked. */
  readonly park: (state: ConnectionState) => boolean
  /** Its session ends: forget its tokens (`expired`: remember them as such for a window). */
  readonly forget: (state: ConnectionState, expired: boolean) => void
  /** End the parked sessions whose window is over. */
  readonly sweep: (now: number) => void
  /** Hand the session a token of this node names over to another front (its copy here ends). */
  readonly give: (request: SessionTake) => Effect.Effect<SessionHandover, ResumeRefused>
  /** End the settled parked sessions as handed to the master (a stopping front); their snapshots. */
  readonly release: () => Array<HeldSession>
}

/** Move a session onto the wire (and decoder, address, per-IP count) of the connection resuming it. */
const transplant = (session: ConnectionState, from: ConnectionState, now: number) => {
  session.perIp = from.perIp
  from.perIp = false
  session.info = {
    id: session.info.id,
    remoteAddress: from.info.remoteAddress,
    remotePort: from.info.remotePort
  }
  session.forkers = undefined
  session.socket = from.socket
  session.decoder = from.decoder
  session.hold = (session.hold & HOLD_IN_FLIGHT) | HOLD_RESUME
  session.socketPaused = from.socketPaused
  if (!session.socketPaused) {
    session.socketPaused = true
    session.socket.pause()
  }
  session.stalledSince = 0
  session.partialSince = 0
  session.dirty = false
  session.first = undefined
  session.rest = undefined
  session.batchBytes = 0
  session.closed = false
  session.lastActivity = now
  from.movedTo = session
  // the resuming connection is done as itself: the parse that carried the frame must not
  // resume reading the wire the session now holds
  from.hold |= HOLD_CLOSED
}

/** A connection that resumed another's session is gone as itself (its disconnect hooks run). */
const absorbed = (edge: Edge, host: Host, state: ConnectionState, into: ConnectionState) => {
  edge.runPlain(
    Effect.log(`Client ${state.info.id} resumed the session of client ${into.info.id}.`).pipe(
      edge.annotate(into.info)
    )
  )
  host.end(state)
}

/** End the parked sessions whose window is over; forget the ended tokens whose window is. */
const sweepParked = (
  parked: Map<number, ConnectionState>,
  ended: Map<string, { readonly until: number }>,
  forget: (state: ConnectionState, expired: boolean) => void,
  host: Host,
  now: number
) => {
  for (const state of parked.values()) {
    if (now >= state.parkedUntil) {
      forget(state, true)
      host.end(state)
    }
  }
  for (const [token, { until }] of ended) if (now >= until) ended.delete(token)
}

/** Park a session whose wire closed, for the edge's window; false when it cannot be parked. */
const parkSession = (
  edge: Edge,
  host: Host,
  parked: Map<number, ConnectionState>,
  state: ConnectionState
) => {
  const { resumeMillis } = edge.settings
  if (state.resume === undefined || state.noPark || resumeMillis === 0) return false
  const id = state.info.id
  state.parkedUntil = edge.clock.unsafeCurrentTimeMillis() + resumeMillis
  host.states.delete(id)
  parked.set(id, state)
  uncountIp(edge.perIp, state)
  edge.changed?.()
  edge.count("sessionsParked")
  edge.runPlain(
    Effect.log(`Client ${id} dropped: session of ${state.uid} kept ${resumeMillis} ms for resume`).pipe(
      edge.annotate(state.info)
    )
  )
  return true
}

/** The resume side of an edge. */
export const make = (edge: Edge, flow: Flow, host: Host): Resumes => {
  const { resumeMillis, resumeFrames, resumeBytes, node, frame: frameOptions } = edge.settings
  const { clock } = edge
  const tokens = new Map<string, ConnectionState>()
  /** Each session's last replaced token, to tell a reused one. */
  const retired = new Map<string, ConnectionState>()
  /** Tokens of sessions whose window ran out (`Expired`) or that moved to another front (`Used`), for a window. */
  const ended = new Map<string, { readonly until: number; readonly reason: "Expired" | "Used" }>()
  const parked = new Map<number, ConnectionState>()

  const system = (state: ConnectionState, command: number, value: unknown) =>
    flow.send(state, Frame.encodeBuffer(frameOptions, command, Buffer.from(JSON.stringify(value), "utf8")))

  const newToken = (state: ConnectionState): string => {
    const token = `${node}.${randomBytes(16).toString("base64url")}`
    tokens.set(token, state)
    return token
  }

  const issue = (state: ConnectionState) => {
    if (resumeMillis === 0 || state.resume !== undefined || state.uid === undefined) return
    const token = newToken(state)
    state.resume = new Resumable(token, state.sentFrames, resumeFrames, resumeBytes)
    system(state, Frame.SESSION_COMMAND, { uid: state.uid, token })
  }

  const forget = (state: ConnectionState, wasExpired: boolean) => {
    const resume = state.resume
    if (resume === undefined) return
    state.resume = undefined
    if (parked.delete(state.info.id)) edge.changed?.()
    if (tokens.get(resume.token) === state) tokens.delete(resume.token)
    if (resume.retired !== undefined && retired.get(resume.retired) === state) retired.delete(resume.retired)
    if (wasExpired) endToken(resume.token, "Expired")
  }
  const endToken = (token: string, reason: "Expired" | "Used") =>
    ended.set(token, { until: clock.unsafeCurrentTimeMillis() + resumeMillis, reason })

  const refuse = (state: ConnectionState, reason: ResumeRefused["reason"]) => {
    edge.count("resumesRefused")
    system(state, Frame.RESUME_COMMAND, { _tag: "ResumeRefused", reason })
    return state.hold === 0
  }

  /** The session `token` names, or why it cannot be resumed. */
  const find = (
    request: typeof ResumeRequest.Type,
    now: number
  ): ConnectionState | ResumeRefused["reason"] => {
    const session = tokens.get(request.token)
    if (session === undefined) {
      if (retired.has(request.token)) return "Used"
      return ended.get(request.token)?.reason ?? "Unknown"
    }
    // another uid's token, or a session ending (kicked, replaced by a newer login)
    if (session.uid !== request.uid || session.noPark || session.closed) return "Unknown"
    if (session.parkedUntil !== 0 && now >= session.parkedUntil) {
      forget(session, true)
      host.end(session)
      return "Expired"
    }
    const missed = session.resume?.since(request.received)
    if (missed === undefined || request.received > session.sentFrames) {
      // the client cannot be caught up: the session ends, the client logs in again
      session.noPark = true
      forget(session, false)
      if (session.parkedUntil !== 0) host.end(session)
      else session.socket.destroySoon()
      return "Resync"
    }
    return session
  }

  /** Move the session onto the resuming connection's wire. */
  const attach = (session: ConnectionState, from: ConnectionState, received: number, now: number) => {
    const resume = session.resume!
    const missed = resume.since(received)!
    if (session.parkedUntil === 0) {
      // a live session (its old connection not noticed dead yet): that wire goes, its close
      // event is then stale (the session's wire is another)
      session.socket.destroy()
      uncountIp(edge.perIp, session)
    }
    parked.delete(session.info.id)
    session.parkedUntil = 0
    host.states.set(session.info.id, session)
    tokens.delete(resume.token)
    if (resume.retired !== undefined) retired.delete(resume.retired)
    resume.retired = resume.token
    retired.set(resume.token, session)
    resume.token = newToken(session)
    transplant(session, from, now)
    system(session, Frame.RESUME_COMMAND, {
      _tag: "ResumeOk",
      requests: session.requests,
      token: resume.token
    })
    for (const buf of missed) flow.send(session, buf)
    edge.count("resumes")
    absorbed(edge, host, from, session)
    // the rest of the resuming connection's bytes are parsed as the session's, after this parse
    process.nextTick(() => flow.release(session, HOLD_RESUME))
  }

  const frame = (state: ConnectionState, body: Uint8Array): boolean => {
    const tried = state.resumeTried
    state.resumeTried = true
    if (resumeMillis === 0) return refuse(state, "Unknown")
    if (tried || state.requests > 0 || state.uid !== undefined || body.length > MAX_BODY) {
      return refuse(state, "Invalid")
    }
    const request = parse(body)
    if (request === undefined) return refuse(state, "Invalid")
    const owner = tokenNode(request.token)
    if (owner !== undefined && owner !== node) return foreign(state, request, owner)
    const now = clock.unsafeCurrentTimeMillis()
    const found = find(request, now)
    // a token of this node it does not know: the master may hold it (this node restarted)
    if (found === "Unknown" && owner === node && host.take !== undefined) return foreign(state, request, node)
    if (typeof found === "string") return refuse(state, found)
    attach(found, state, request.received, now)
    return false
  }

  const { foreign, give, release } = Give.make({
    edge,
    flow,
    host,
    parked,
    refuse,
    find,
    forget,
    endToken,
    tokens,
    retired,
    newToken,
    system
  })

  return {
    parked,
    issue,
    frame,
    park: (state) => parkSession(edge, host, parked, state),
    forget,
    sweep: (now) => sweepParked(parked, ended, forget, host, now),
    give,
    release
  }
}
