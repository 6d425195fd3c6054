/**
 * The transport-agnostic core of a client edge: it admits connections (node-wide and per-IP
 * caps), reads their bytes into frames, runs the connect/disconnect hooks, serves the `NetServer`
 * service (push, broadcast, kick, stats) and sweeps every connection's timers in one fiber (no
 * timer per connection). A transport (TCP, WebSocket) only hands it `Wire`s and their bytes.
 */
import { Cause, type Context, Duration, Effect, Either, FiberSet, Option, Schedule, type Scope } from "effect"
import * as Channels from "./channels.js"
import { ChannelRefused } from "./channels.js"
import { ConnectionState, HOLD_HOOKS, normalizeAddress, type Wire } from "./connection.js"
import * as Dispatch from "./dispatch.js"
import * as Drain from "./drain.js"
import * as Edge from "./edge.js"
import * as Flow from "./flow.js"
import * as Frame from "./frame.js"
import type { Handover, SessionHandover } from "./handoverWire.js"
import type { Settings } from "./limits.js"
import * as Resume from "./resume.js"
import type { Hook, Router } from "./router.js"
import { type Address, type Addresses, type Connection, NetServer } from "./service.js"
import * as Sessions from "./sessions.js"
import { SessionRefused } from "./sessions.js"

/** What a transport calls. */
export interface Core {
  readonly service: Context.Tag.Service<NetServer>
  /**
   * The address a transport is bound to, once it is (the service's `addresses`), and how to stop
   * its listener accepting (the drain of a graceful stop).
   */
  readonly bound: (transport: "tcp" | "webSocket", address: Address, stopAccepting: () => void) => void
  /**
   * A new connection: its state, or undefined when a cap refuses it (it is destroyed then, and
   * the refusal counted and logged).
   */
  readonly accept: (
    wire: Wire,
    remoteAddress: string | undefined,
    remotePort: number | undefined
  ) => ConnectionState | undefined
  /** Bytes the connection sent. */
  readonly received: (state: ConnectionState, chunk: Buffer) => void
  /** The connection is closed (its transport's close event). */
  readonly gone: (state: ConnectionState) => void
  /** Close every connection and run their disconnect hooks (the listener is closing). */
  readonly closeAll: Effect.Effect<void>
}

const makeService = (
  edge: Edge.Edge,
  flow: Flow.Flow,
  addresses: () => Addresses,
  sessions: Sessions.Sessions,
  channels: Channels.Channels,
  resumes: Resume.Resumes,
  /** An open or parked connection, or one whose disconnect hooks are running. */
  find: (id: number) => ConnectionState | undefined,
  /** Bind hooks of a connection just bound; the end of a parked session (its hooks run). */
  bound: (state: ConnectionState) => Effect.Effect<void>,
  end: (state: ConnectionState) => Effect.Effect<void>,
  drain: Effect.Effect<void>
): Context.Tag.Service<NetServer> => {
  const { states } = edge
  const { parked } = resumes
  const deliver = (command: number, body: Uint8Array, to: Iterable<number>): number => {
    let buf: Buffer | undefined
    let n = 0
    for (const id of to) {
      // a parked session keeps what it is sent for its client's resume
      const state = states.get(id) ?? parked.get(id)
      if (state === undefined || (state.socket.destroyed && state.resume === undefined)) continue
      buf ??= Frame.encodeBuffer(edge.settings.frame, command, body)
      flow.write(state, buf)
      n++
    }
    return n
  }
  const service: Context.Tag.Service<NetServer> = {
    get address() {
      const bound = addresses()
      return bound.tcp ?? bound.webSocket ?? { host: "", port: 0 }
    },
    get addresses() {
      return addresses()
    },
    push: (command, value, to) =>
      Either.match(command.encodeResponse(value), {
        onLeft: (e) => Effect.fail(e),
        onRight: (body) => Effect.sync(() => deliver(command.id, body, to))
      }),
    pushRaw: (command, body, to) => Effect.sync(() => deliver(command, body, to)),
    broadcast: (command, value) =>
      Either.match(command.encodeResponse(value), {
        onLeft: (e) => Effect.fail(e),
        onRight: (body) =>
          Effect.sync(() =>
            deliver(
              command.id,
              body,
              parked.size === 0 ? states.keys() : [...states.keys(), ...parked.keys()]
            )
          )
      }),
    bind: (id, uid) =>
      Effect.suspend(() => {
        const state = states.get(id)
        if (state === undefined) return Effect.fail(new SessionRefused({ reason: "Closed", uid }))
        // a parked session of the uid ends before its player logs in anew
        const other = sessions.connectionOf(uid)
        const before =
          other !== undefined && other !== state && parked.has(other.info.id) ? end(other) : Effect.void
        return Effect.flatMap(before, () => {
          const fresh = state.uid === undefined
          const refused = sessions.bind(state, uid)
          if (refused !== undefined) return Effect.fail(refused)
          return fresh ? bound(state) : Effect.void
        })
      }),
    uidOf: (id) => Effect.sync(() => Option.fromNullable(find(id)?.uid)),
    connectionOf: (uid) => Effect.sync(() => Option.fromNullable(sessions.connectionOf(uid)?.info.id)),
    sessionData: (id) =>
      Effect.sync(() => {
        const state = find(id)
        if (state === undefined) return undefined
        state.data ??= new Map()
        return state.data
      }),
    join: (id, channel) =>
      Effect.suspend(() => {
        const state = states.get(id)
        const refused =
          state === undefined
            ? new ChannelRefused({ reason: "Closed", channel })
            : channels.join(state, channel)
        return refused === undefined ? Effect.void : Effect.fail(refused)
      }),
    leave: (id, channel) =>
      Effect.sync(() => {
        const state = states.get(id) ?? parked.get(id)
        return state === undefined ? false : channels.leave(state, channel)
      }),
    members: (channel) => Effect.sync(() => Array.from(channels.members(channel) ?? [], (s) => s.info.id)),
    pushChannel: (channel, command, value) =>
      Either.match(command.encodeResponse(value), {
        onLeft: (e) => Effect.fail(e),
        onRight: (body) =>
          Effect.sync(() =>
            deliver(
              command.id,
              body,
              Array.from(channels.members(channel) ?? [], (s) => s.info.id)
            )
          )
      }),
    handOver: resumes.give,
    drain,
    kick: (id) =>
      Effect.suspend(() => {
        const state = states.get(id)
        if (state === undefined) {
          const session = parked.get(id)
          return session === undefined ? Effect.succeed(false) : Effect.as(end(session), true)
        }
        // a kicked player's session ends with its connection (not parked)
        state.noPark = true
        flow.flushOne(state)
        state.socket.destroySoon()
        return Effect.succeed(true)
      }),
    connections: Effect.sync(() => Array.from(states.values(), (s) => s.info)),
    stats: Effect.sync(() => ({
      connections: states.size,
      parked: parked.size,
      peakBuffered: edge.peakBuffered,
      ...edge.counters()
    }))
  }
  return service
}

/** Turn a connection away at once (a cap): count and log it (rate-limited). */
const refuse = (edge: Edge.Edge, wire: Wire, counter: Edge.Counter, why: () => string) => {
  wire.destroy()
  edge.report(counter, undefined, "warning", why)
  return undefined
}

/**
 * One sweep over every connection's timers: request, send, frame and idle timeouts, resume
 * windows.
 */
const sweeper = (
  edge: Edge.Edge,
  flow: Flow.Flow,
  dispatch: Dispatch.Dispatch,
  resumes: Resume.Resumes
): Effect.Effect<void> =>
  Effect.sync(() => {
    const { idleMillis, frameMillis, sendMillis, requestMillis } = edge.settings
    const now = edge.clock.unsafeCurrentTimeMillis()
    for (const state of edge.states.values()) {
      if (state.socket.destroyed) continue
      if (requestMillis > 0 && state.inFlight > 0) dispatch.expire(state, now)
      if (sendMillis > 0 && state.stalledSince !== 0 && now - state.stalledSince >= sendMillis) {
        const since = state.stalledSince
        flow.slowConsumer(state, () => `its replies were not read for ${now - since} ms (sendTimeout)`)
      } else if (frameMillis > 0 && state.partialSince !== 0 && now - state.partialSince >= frameMillis) {
        flow.close(state)
        edge.report(
          "frameTimeouts",
          state.info,
          "warning",
          () => `closing connection: a frame took over ${frameMillis} ms`
        )
      } else if (idleMillis > 0 && state.inFlight === 0 && now - state.lastActivity >= idleMillis) {
        flow.close(state)
        edge.count("idleTimeouts")
        if (edge.debugEnabled)
          edge.runPlain(
            Effect.logDebug(`closing idle connection ${state.info.id}`).pipe(edge.annotate(state.info))
          )
      }
    }
    if (edge.settings.resumeMillis > 0) resumes.sweep(now)
    edge.flushLogs()
  })

/**
 * Admit a connection under the node-wide and per-IP caps (or turn it away). The node-wide cap
 * counts the parked sessions too (`parked`): each keeps its replay buffer until its window ends.
 */
const makeAccept =
  (
    edge: Edge.Edge,
    open: (wire: Wire, remoteAddress: string, remotePort: number, counted: boolean) => ConnectionState,
    parked: () => number
  ): Core["accept"] =>
  (wire, address, port) => {
    const { states, perIp, report } = edge
    const { maxConnections, maxPerIp, exempt } = edge.settings
    try {
      const remoteAddress = normalizeAddress(address)
      if (states.size + parked() >= maxConnections) {
        return refuse(
          edge,
          wire,
          "refusedMaxConnections",
          () =>
            `refusing a connection from ${remoteAddress}: ${maxConnections} connections open or parked (maxConnections)`
        )
      }
      const counted = !exempt.has(remoteAddress)
      if (counted) {
        const n = perIp.get(remoteAddress) ?? 0
        if (n >= maxPerIp) {
          return refuse(
            edge,
            wire,
            "refusedPerIp",
            () => `refusing a connection from ${remoteAddress}: ${n} open from it (maxConnectionsPerIp)`
          )
        }
        perIp.set(remoteAddress, n + 1)
      }
      return open(wire, remoteAddress, port ?? 0, counted)
    } catch (defect) {
      wire.destroy()
      report("edgeDefects", undefined, "error", () => "could not accept a connection", Cause.die(defect))
      return undefined
    }
  }

/** Sweep the edge's timers in one fiber of the scope (none when every timer is off). */
const startSweeper = (
  edge: Edge.Edge,
  flow: Flow.Flow,
  dispatch: Dispatch.Dispatch,
  resumes: Resume.Resumes
) =>
  Effect.gen(function* () {
    const { idleMillis, frameMillis, sendMillis, resumeMillis, requestMillis } = edge.settings
    const timers = [idleMillis, frameMillis, sendMillis, resumeMillis, requestMillis].filter((ms) => ms > 0)
    if (timers.length > 0) {
      yield* sweeper(edge, flow, dispatch, resumes).pipe(
        Effect.catchAllDefect((defect) => Effect.logError("netport sweep failed", defect)),
        Effect.repeat(
          Schedule.spaced(Duration.millis(Math.max(10, Math.min(1000, Math.min(...timers) / 4))))
        ),
        Effect.forkScoped
      )
    }
  })

/**
 * Bind a connection to a session handed over by another front (a parked session of the uid here
 * ends first, as for a login), join its channels and run the bind hooks; false if refused.
 */
const adoptSession = (
  edge: {
    readonly sessions: Sessions.Sessions
    readonly channels: Channels.Channels
    readonly resumes: Resume.Resumes
    readonly runPlain: (effect: Effect.Effect<void>) => unknown
    readonly disconnected: (state: ConnectionState) => Effect.Effect<void>
    readonly onBind: (state: ConnectionState) => Effect.Effect<void>
  },
  state: ConnectionState,
  { uid, channels: names }: SessionHandover
): boolean => {
  const { sessions, resumes, runPlain } = edge
  const other = sessions.connectionOf(uid)
  if (other !== undefined && other !== state && resumes.parked.has(other.info.id)) {
    resumes.forget(other, false)
    runPlain(edge.disconnected(other))
  }
  if (sessions.bind(state, uid) !== undefined) return false
  for (const name of names) edge.channels.join(state, name)
  runPlain(edge.onBind(state))
  return true
}

/** The listeners' stops, and whether a drain stopped them (a connection then is refused). */
interface Listeners {
  readonly stops: Array<() => void>
  draining: boolean
}

const stopListeners = (listeners: Listeners) => {
  listeners.draining = true
  for (const stop of listeners.stops) stop()
}

const unlessDraining =
  (listeners: Listeners, admit: Core["accept"]): Core["accept"] =>
  (wire, address, port) => {
    if (!listeners.draining) return admit(wire, address, port)
    wire.destroy()
    return undefined
  }

/** The core of an edge, its handler fibers and timer sweep in the scope. */
export const make = (
  settings: Settings,
  router: Router,
  duplicate: Sessions.DuplicatePolicy = "kick",
  /** The reach to the other fronts, for a resume token another front issued. */
  handover?: Handover["Type"]
): Effect.Effect<Core, never, Scope.Scope> =>
  Effect.gen(function* () {
    const edge = yield* Edge.make(settings, router)
    const flow = Flow.make(edge)
    let addresses: Addresses = {}
    const listeners: Listeners = { stops: [], draining: false }
    const sessions = Sessions.make(edge, flow, duplicate)
    const channels = Channels.make()
    const leaving = new Map<number, ConnectionState>()
    const resumes = Resume.make(edge, flow, {
      states: edge.states,
      end: (state) => runPlain(disconnected(state)),
      take: handover?.take,
      adopt: (state, given) =>
        adoptSession({ sessions, channels, resumes, runPlain, disconnected, onBind }, state, given)
    })
    const service = makeService(
      edge,
      flow,
      () => addresses,
      sessions,
      channels,
      resumes,
      (id) => states.get(id) ?? resumes.parked.get(id) ?? leaving.get(id),
      (state) =>
        Effect.zipRight(
          Effect.sync(() => resumes.issue(state)),
          onBind(state)
        ),
      (state) => {
        resumes.forget(state, false)
        return disconnected(state)
      },
      Drain.make(edge, resumes, () => stopListeners(listeners), handover)
    )
    const handlers = yield* FiberSet.make<unknown, unknown>()
    const dispatch = Dispatch.make(edge, flow, service, handlers)
    const { states, perIp, annotate, clock, runPlain } = edge

    const onBind = (state: ConnectionState) =>
      router.onBind.length === 0
        ? Effect.void
        : runHooks(router.onBind, state.info).pipe(annotate(state.info))
    const runHooks = (hooks: ReadonlyArray<Hook>, info: Connection) =>
      Effect.forEach(hooks, (h) => h(info), { discard: true }).pipe(
        Effect.provideService(NetServer, service),
        Effect.catchAllCause((cause) => Effect.logError("connection hook failed", cause))
      )

    /**
     * Forget a closed connection (or an ended parked session), log it and run its close hooks
     * (bound) and disconnect hooks, once.
     */
    const disconnected = (state: ConnectionState): Effect.Effect<void> => {
      if (state.closed) return Effect.void
      state.closed = true
      const id = state.info.id
      if (states.delete(id)) edge.changed?.()
      resumes.forget(state, false)
      sessions.forget(state)
      channels.forget(state)
      Resume.uncountIp(perIp, state)
      const log = Effect.log(`Client ${id} login out.`)
      const hooks =
        state.uid === undefined || router.onClose.length === 0
          ? router.onDisconnect
          : [...router.onClose, ...router.onDisconnect]
      if (hooks.length === 0) return log.pipe(annotate(state.info))
      // its hooks still read its uid and session data
      leaving.set(id, state)
      return Effect.zipRight(log, runHooks(hooks, state.info)).pipe(
        Effect.ensuring(Effect.sync(() => leaving.delete(id))),
        annotate(state.info)
      )
    }

    // every connection's frames: one function, the connection its context
    const onFrame = (command: number, body: Uint8Array, state: ConnectionState) => {
      if (command === Frame.RESUME_COMMAND) return resumes.frame(state, body)
      state.requests++
      return dispatch.dispatch(state, command, body)
    }
    const open = (wire: Wire, remoteAddress: string, remotePort: number, counted: boolean) => {
      edge.count("accepted")
      const info: Connection = { id: edge.nextId++, remoteAddress, remotePort }
      const state = new ConnectionState(
        info,
        wire,
        new Frame.Decoder(settings.frame),
        clock.unsafeCurrentTimeMillis()
      )
      state.perIp = counted
      state.onFrame = onFrame
      states.set(info.id, state)
      const login = Effect.log(`Client ${info.id} login in.[${info.remoteAddress},${info.remotePort}]`)
      if (router.onConnect.length === 0) {
        runPlain(login.pipe(annotate(info)))
        return state
      }
      // requests wait until the connect hooks are done
      flow.hold(state, HOLD_HOOKS)
      runPlain(Effect.zipRight(login, runHooks(router.onConnect, info)).pipe(annotate(info))).addObserver(
        () => flow.release(state, HOLD_HOOKS)
      )
      return state
    }

    const admit = makeAccept(edge, open, () => resumes.parked.size)
    const accept = unlessDraining(listeners, admit)

    // closing the edge gives up the calls started without a fiber and interrupts the fibers
    const stopHandlers = Effect.zipRight(Effect.sync(dispatch.cancelAll), FiberSet.clear(handlers))
    yield* Effect.addFinalizer(() => stopHandlers)
    yield* startSweeper(edge, flow, dispatch, resumes)

    return {
      service,
      bound: (transport, address, stopAccepting) => {
        addresses = { ...addresses, [transport]: address }
        listeners.stops.push(stopAccepting)
      },
      accept,
      // a connection that resumed a session speaks for it; a wire a resume replaced is stale
      received: (handle, chunk) => {
        const state = handle.movedTo ?? handle
        if (state.socket === handle.wire) flow.received(state, chunk)
      },
      gone: (handle) => {
        const state = handle.movedTo ?? handle
        if (state.socket !== handle.wire || state.closed || state.parkedUntil !== 0) return
        if (!resumes.park(state)) runPlain(disconnected(state))
      },
      closeAll: Effect.suspend(() => {
        // connections close with the listener: their disconnect hooks run here, in its scope,
        // after the handlers are given up; parked sessions end with them
        const open = [...states.values()]
        const parked = [...resumes.parked.values()]
        return Effect.zipRight(
          stopHandlers,
          Effect.suspend(() => {
            for (const state of open) {
              state.noPark = true
              state.socket.destroy()
            }
            return Effect.forEach([...open, ...parked], disconnected, { discard: true })
          })
        )
      })
    }
  })
