/**
 * The sessions stopped fronts handed to the master (`PlayersService.HoldSessions`), kept for the
 * rest of their resume window: a player whose front restarts (with no other front to move to,
 * or whose client came back after the drain) resumes on any front, the restarted one too, with
 * what it missed. A push to a held player is kept in its ring (the oldest frames go past the
 * ring's bounds, as on a front: a client that missed those resyncs). A held session stays in its
 * channels: a push to a channel is kept in the ring of each held member, and a held member is
 * listed among the channel's members (as the master's).
 *
 * Bounded: `MAX_SESSIONS` sessions and `MAX_BYTES` of frames in all; past either a session is
 * not kept (its client logs in again) and a push to it is not kept (`PlayerOffline`). A front
 * holds only sessions of tokens it issued. Expired sessions go at the next sweep (every second)
 * or when asked for.
 *
 * @internal
 */
import { type Clock, Effect, Either, Option, Schedule, type Scope } from "effect"
import { type HeldSession, type SessionHandover, type SessionTake, tokenNode } from "../edge/handoverWire.js"
import { ResumeRefused } from "../edge/resumeWire.js"

/** Sessions the master holds at most. */
export const MAX_SESSIONS = 100_000

/** Frame bytes the master holds at most, over every session. */
export const MAX_BYTES = 64 * 1024 * 1024

type Frame = SessionHandover["frames"][number]

interface Entry {
  readonly token: string
  readonly uid: string
  readonly channels: ReadonlyArray<string>
  readonly requests: number
  readonly until: number
  readonly maxFrames: number
  readonly maxBytes: number
  /** The client's frame number of `frames[0]`. */
  first: number
  frames: Array<Frame>
  bytes: number
}

/** The master's store of held sessions. */
export interface HeldSessions {
  /** Keep the sessions front `node` hands over (tokens it issued); how many were kept. */
  readonly hold: (node: string, sessions: ReadonlyArray<HeldSession>) => number
  /** The session a resume request names, if held here: handed over (it is no longer held) or refused. */
  readonly take: (request: SessionTake) => Option.Option<Either.Either<SessionHandover, ResumeRefused>>
  /** Keep a push to held player `uid`; whether it was kept. */
  readonly push: (uid: string, command: number, body: Uint8Array) => boolean
  /** Keep a push to channel `channel` for each held member; how many kept it. */
  readonly pushChannel: (channel: string, command: number, body: Uint8Array) => number
  /** The held members of `channel`: how many, and their uids (the first `limit`). */
  readonly members: (
    channel: string,
    limit: number
  ) => { readonly count: number; readonly uids: Array<string> }
  /** End the held session of `uid` (it logged in elsewhere); whether there was one. */
  readonly drop: (uid: string) => boolean
  /** Sessions and frame bytes held now. */
  readonly size: () => { readonly sessions: number; readonly bytes: number }
}

/** A store over `clock`; `sweep` ends the expired sessions. */
export const make = (clock: Clock.Clock): HeldSessions & { readonly sweep: () => void } => {
  const byToken = new Map<string, Entry>()
  const byUid = new Map<string, Entry>()
  const byChannel = new Map<string, Set<Entry>>()
  let total = 0
  const now = () => clock.unsafeCurrentTimeMillis()

  const remove = (entry: Entry) => {
    if (byToken.get(entry.token) !== entry) return
    byToken.delete(entry.token)
    if (byUid.get(entry.uid) === entry) byUid.delete(entry.uid)
    for (const name of entry.channels) {
      const set = byChannel.get(name)
      set?.delete(entry)
      if (set?.size === 0) byChannel.delete(name)
    }
    total -= entry.bytes
  }
  /** The entry, if still in its window (an expired one goes). */
  const live = (entry: Entry | undefined): Entry | undefined => {
    if (entry === undefined) return undefined
    if (now() < entry.until) return entry
    remove(entry)
    return undefined
  }
  const sizeOf = (frames: ReadonlyArray<Frame>) => frames.reduce((n, f) => n + f.body.length, 0)

  const keep = (node: string, s: HeldSession, at: number): boolean => {
    const bytes = sizeOf(s.frames)
    if (tokenNode(s.token) !== node || s.ttl === 0 || byToken.has(s.token)) return false
    if (s.frames.length > s.maxFrames || bytes > s.maxBytes) return false
    const older = byUid.get(s.uid)
    if (older !== undefined) remove(older)
    if (byToken.size >= MAX_SESSIONS || total + bytes > MAX_BYTES) return false
    const entry: Entry = {
      token: s.token,
      uid: s.uid,
      channels: s.channels,
      requests: s.requests,
      until: at + s.ttl,
      maxFrames: s.maxFrames,
      maxBytes: s.maxBytes,
      first: s.first,
      frames: [...s.frames],
      bytes
    }
    byToken.set(s.token, entry)
    byUid.set(s.uid, entry)
    for (const name of entry.channels) {
      const set = byChannel.get(name) ?? new Set<Entry>()
      set.add(entry)
      byChannel.set(name, set)
    }
    total += bytes
    return true
  }

  const take: HeldSessions["take"] = ({ token, uid, received }) => {
    const held = byToken.get(token)
    if (held === undefined) return Option.none()
    const refused = (reason: ResumeRefused["reason"]) =>
      Option.some(Either.left(new ResumeRefused({ reason })))
    // another uid's token: refused, the session stays for its player
    if (held.uid !== uid) return refused("Unknown")
    const entry = live(held)
    if (entry === undefined) return refused("Expired")
    remove(entry)
    if (received < entry.first || received > entry.first + entry.frames.length) return refused("Resync")
    return Option.some(
      Either.right({
        uid,
        channels: entry.channels,
        requests: entry.requests,
        frames: entry.frames.slice(received - entry.first)
      })
    )
  }

  /** Keep a frame in a live entry's ring; whether it was kept. */
  const keepFrame = (entry: Entry | undefined, command: number, body: Uint8Array): boolean => {
    if (entry === undefined || total + body.length > MAX_BYTES) return false
    entry.frames.push({ command, body })
    entry.bytes += body.length
    total += body.length
    // the oldest frames go past the ring's bounds (a client that missed them resyncs)
    while (entry.frames.length > entry.maxFrames || entry.bytes > entry.maxBytes) {
      const gone = entry.frames.shift()!
      entry.bytes -= gone.body.length
      total -= gone.body.length
      entry.first++
    }
    return true
  }

  /** The live held members of a channel (expired ones go). */
  const liveMembers = (channel: string): Array<Entry> => {
    const set = byChannel.get(channel)
    if (set === undefined) return []
    const out: Array<Entry> = []
    for (const entry of [...set]) if (live(entry) !== undefined) out.push(entry)
    return out
  }

  return {
    hold: (node, sessions) => {
      const at = now()
      let kept = 0
      for (const s of sessions) if (keep(node, s, at)) kept++
      return kept
    },
    take,
    push: (uid, command, body) => keepFrame(live(byUid.get(uid)), command, body),
    pushChannel: (channel, command, body) => {
      let kept = 0
      for (const entry of liveMembers(channel)) if (keepFrame(entry, command, body)) kept++
      return kept
    },
    members: (channel, limit) => {
      const all = liveMembers(channel)
      return { count: all.length, uids: all.slice(0, limit).map((e) => e.uid) }
    },
    drop: (uid) => {
      const entry = byUid.get(uid)
      if (entry === undefined) return false
      remove(entry)
      return true
    },
    size: () => ({ sessions: byToken.size, bytes: total }),
    sweep: () => {
      for (const entry of byToken.values()) live(entry)
    }
  }
}

/** A store whose expired sessions are swept every second in the scope. */
export const scoped: Effect.Effect<HeldSessions, never, Scope.Scope> = Effect.gen(function* () {
  const store = make(yield* Effect.clock)
  yield* Effect.sync(store.sweep).pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.forkScoped)
  return store
})
