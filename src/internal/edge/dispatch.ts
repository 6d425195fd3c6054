/**
 * Dispatch: one frame of a connection becomes a handler call, and the handler's outcome becomes
 * the reply (or an error frame) in that request's place. Replies leave in the order requests
 * came; up to `maxInFlight` run at once.
 *
 * A handler whose Effect is already an `Exit` is answered without a fiber, and so is one whose
 * Effect is a call of a node client (`DirectCall`): the call is started here and its reply
 * answers the client from the link's callback. Any other handler runs in its own fiber, in a
 * runtime holding its route's context, `NetServer` and `CurrentConnection`.
 */
import {
  Context,
  Effect,
  Either,
  Exit,
  FiberId,
  FiberRef,
  FiberRefs,
  FiberSet,
  HashMap,
  Runtime,
  type Tracer
} from "effect"
import type * as NetCommand from "../../NetCommand.js"
import * as Tracing from "../observe/tracing.js"
import * as DirectCall from "../rpc/directCall.js"
import { type ConnectionState, type Fork, HOLD_IN_FLIGHT, type Slot } from "./connection.js"
import type { Edge } from "./edge.js"
import type { Flow } from "./flow.js"
import * as Reply from "./reply.js"
import type { Route } from "./router.js"
import { CurrentConnection, NetServer } from "./service.js"

/** The dispatch of one edge. */
export interface Dispatch {
  /** One frame of a connection; returns whether parsing may go on (no hold). */
  readonly dispatch: (state: ConnectionState, command: number, body: Uint8Array) => boolean
  /** Give up the calls started without a fiber (closing the edge, as it interrupts the fibers). */
  readonly cancelAll: () => void
  /** Answer `Timeout` for the requests of a connection past `requestTimeout` (see `Reply`). */
  readonly expire: (state: ConnectionState, now: number) => void
}

/** The span of command `command` (its route's, if any). */
const commandSpan = (tracing: Tracing.Tracing, command: number, route: Route | undefined) => {
  const name = route === undefined ? String(command) : route.command.name
  const span = Tracing.start(tracing, `hotaru.command ${name}`, "server", undefined)
  span.attribute(Tracing.ATTR_COMMAND_ID, command)
  if (route !== undefined) span.attribute(Tracing.ATTR_COMMAND_NAME, name)
  return span
}
/** End the span of a command refused before its handler ran (`outcome`: the error frame's kind). */
const refused = (tracing: Tracing.Tracing, span: Tracer.Span, outcome: string) =>
  Tracing.endRefused(tracing, span, outcome, Exit.fail(outcome))

/**
 * The forks of an edge's connections, per connection and route: a runtime holding the route's
 * context + `NetServer` + `CurrentConnection` and the `{node, conn}` log annotations, built once.
 */
const makeForkOf = (edge: Edge, service: Context.Tag.Service<NetServer>) => {
  const { runtime } = edge
  const { node } = edge.settings
  /** Per route (routes may be swapped at run time): its captured context plus `NetServer`. */
  const routeContexts = new WeakMap<Route, Context.Context<never>>()
  const forkOf = (state: ConnectionState, route: Route): Fork => {
    state.forkers ??= new WeakMap()
    let fork = state.forkers.get(route)
    if (fork === undefined) {
      let base = routeContexts.get(route)
      if (base === undefined) {
        base = Context.add(route.context, NetServer, service) as Context.Context<never>
        routeContexts.set(route, base)
      }
      fork = Runtime.runFork(
        Runtime.make({
          context: Context.add(base, CurrentConnection, state.info) as Context.Context<never>,
          fiberRefs: FiberRefs.updateAs(runtime.fiberRefs, {
            fiberId: FiberId.none,
            fiberRef: FiberRef.currentLogAnnotations,
            value: HashMap.make(["node", node as unknown], ["conn", state.info.id as unknown])
          }),
          runtimeFlags: runtime.runtimeFlags
        })
      ) as Fork
      state.forkers.set(route, fork)
    }
    return fork
  }
  return forkOf
}

/** The dispatch of an edge whose handler fibers live in `handlers`. */
export const make = (
  edge: Edge,
  flow: Flow,
  service: Context.Tag.Service<NetServer>,
  handlers: FiberSet.FiberSet<unknown, unknown>
): Dispatch => {
  const { router, runtime, report, debugEnabled, count, tracing } = edge
  const { maxInFlight, debugErrors, decodeOptions, requestMillis } = edge.settings
  const { clock } = edge
  const { hold } = flow

  const forkOf = makeForkOf(edge, service)

  const { errorFrame, complete, settle, settleGuarded, expire } = Reply.make(edge, flow)

  const badRequest = (route: Route, e: NetCommand.BodyError): string => {
    if (debugErrors) return e.message
    const what =
      e.problem === "Depth"
        ? `nests deeper than ${decodeOptions.maxDepth}`
        : e.problem === "Schema"
          ? "does not match the request schema"
          : `is not valid ${route.command.codec}`
    return `the body of command ${e.command} ${what}`
  }

  /** One frame of a connection; returns whether parsing may go on (no hold). */
  const dispatch = (state: ConnectionState, command: number, body: Uint8Array): boolean => {
    const slot: Slot = {
      done: false,
      out: undefined,
      command,
      startedAt: requestMillis > 0 ? clock.unsafeCurrentTimeMillis() : 0,
      fiber: undefined,
      cancel: undefined,
      span: undefined
    }
    state.queue.push(slot)
    state.inFlight++
    count("requests")
    const route = router.routes.get(command)
    // a client never names a parent span: each command is a trace's root
    if (tracing !== undefined) slot.span = commandSpan(tracing, command, route)
    if (route === undefined) {
      if (slot.span !== undefined) refused(tracing!, slot.span, "UnknownCommand")
      report("unknownCommands", state.info, "warning", () => `unknown command ${command}`)
      complete(
        state,
        slot,
        errorFrame({ command, error: "UnknownCommand", message: `no handler for command ${command}` })
      )
      return state.hold === 0
    }
    const request = route.command.decodeRequest(body, decodeOptions)
    if (Either.isLeft(request)) {
      const e = request.left
      if (slot.span !== undefined) refused(tracing!, slot.span, "BadRequest")
      report("badRequests", state.info, "warning", () => e.message)
      complete(state, slot, errorFrame({ command, error: "BadRequest", message: badRequest(route, e) }))
      return state.hold === 0
    }
    let effect: Effect.Effect<unknown, unknown, unknown>
    try {
      effect = route.handler(request.right, state.info)
    } catch (defect) {
      settle(state, slot, route, command, Exit.die(defect))
      return state.hold === 0
    }
    if (debugEnabled) effect = Effect.zipRight(Effect.logDebug(`call method ${route.command.name}`), effect)
    // Effect.succeed / fail / die / void are already Exits: answer them without a fiber
    if (Exit.isExit(effect)) {
      settle(state, slot, route, command, effect)
      return state.hold === 0
    }
    if (!Effect.isEffect(effect)) {
      settle(
        state,
        slot,
        route,
        command,
        Exit.die(new TypeError(`${route.command.name}: handler returned no Effect`))
      )
      return state.hold === 0
    }
    // a handler that only makes a node-RPC call (`(req) => backend.echo(req)`): the call is
    // started here and its reply settles the slot from the link's callback, no fiber
    if (DirectCall.isDirectCall(effect)) {
      let cancel: (() => void) | undefined
      try {
        cancel = effect.start(
          runtime.fiberRefs,
          (exit) => {
            slot.cancel = undefined
            settleGuarded(state, slot, route, command, exit)
          },
          slot.span
        )
      } catch (defect) {
        // a schema transformation threw while encoding the call (a fiber would die of it)
        if (!slot.done) settle(state, slot, route, command, Exit.die(defect))
        return state.hold === 0
      }
      if (cancel !== undefined) {
        if (!slot.done) slot.cancel = cancel
        if (state.inFlight >= maxInFlight) hold(state, HOLD_IN_FLIGHT)
        return state.hold === 0
      }
    }
    const run = slot.span === undefined ? effect : Tracing.within(tracing!, slot.span, effect)
    const fiber = forkOf(state, route)(run as Effect.Effect<unknown, unknown>)
    FiberSet.unsafeAdd(handlers, fiber)
    slot.fiber = fiber
    fiber.addObserver((exit) => {
      slot.fiber = undefined
      settleGuarded(state, slot, route, command, exit)
    })
    if (state.inFlight >= maxInFlight) hold(state, HOLD_IN_FLIGHT)
    return state.hold === 0
  }

  const cancelAll = () => {
    for (const state of edge.states.values()) {
      for (let i = state.head; i < state.queue.length; i++) {
        const slot = state.queue[i]!
        const cancel = slot.cancel
        slot.cancel = undefined
        cancel?.()
        if (cancel !== undefined && slot.span !== undefined) {
          Tracing.end(tracing!, slot.span, Exit.interrupt(FiberId.none))
        }
      }
    }
  }

  return { dispatch, cancelAll, expire }
}
