/**
 * Replies: a handler's outcome becomes the frame answered in its request's place (its encoded
 * response, nothing, or an error frame whose text is internal only with `debugErrors`), and the
 * finished replies at the head of a connection's queue are written, in request order.
 */
import { Cause, Either, Exit, FiberId, Option } from "effect"
import type * as NetCommand from "../../NetCommand.js"
import * as Tracing from "../observe/tracing.js"
import { type ConnectionState, HOLD_IN_FLIGHT, type Slot } from "./connection.js"
import type { Edge } from "./edge.js"
import type { Flow } from "./flow.js"
import * as Frame from "./frame.js"
import type { Route } from "./router.js"

/** The error kind, message, tag and failure of a failed handler; never throws. */
const errorMessage = (
  cause: Cause.Cause<unknown>
): { error: NetCommand.ErrorBody["error"]; message: string; tag?: string; failure?: unknown } => {
  try {
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure)) {
      const e = failure.value
      const tag =
        typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : undefined
      const message =
        e instanceof Error ? String(e.message) : typeof e === "string" ? e : (JSON.stringify(e) ?? String(e))
      return tag === undefined
        ? { error: "HandlerFailed", message, failure: e }
        : { error: "HandlerFailed", message, tag, failure: e }
    }
    return { error: "Defect", message: Cause.pretty(cause).split("\n")[0] ?? "defect" }
  } catch {
    return {
      error: Cause.isFailure(cause) ? "HandlerFailed" : "Defect",
      message: "the error could not be described"
    }
  }
}
/** The replies of one edge. */
export interface Reply {
  readonly errorFrame: (body: NetCommand.ErrorBody) => Buffer
  /** The slot's reply is `out` (undefined: none); write what is ready in order. */
  readonly complete: (state: ConnectionState, slot: Slot, out: Buffer | undefined) => void
  /** Turn a handler's Exit into the slot's reply (or error frame). */
  readonly settle: (
    state: ConnectionState,
    slot: Slot,
    route: Route,
    command: number,
    exit: Exit.Exit<unknown, unknown>
  ) => void
  /** `settle` from a callback: an unexpected throw closes the connection. */
  readonly settleGuarded: Reply["settle"]
  /**
   * Answer the requests of a connection that waited `requestTimeout` for their handler with a
   * `Timeout` error frame, interrupting their handlers (the sweep, with its clock's `now`).
   */
  readonly expire: (state: ConnectionState, now: number) => void
}

/** The replies of an edge. */
export const make = (edge: Edge, flow: Flow): Reply => {
  const { report } = edge
  const { frame, maxInFlight, debugErrors } = edge.settings
  const { write, release, edgeDefect } = flow

  const errorFrame = (body: NetCommand.ErrorBody): Buffer =>
    Frame.encodeBuffer(frame, Frame.ERROR_COMMAND, Buffer.from(JSON.stringify(body), "utf8"))

  const flush = (state: ConnectionState) => {
    const q = state.queue
    while (state.head < q.length && q[state.head]!.done) {
      const slot = q[state.head]!
      if (slot.out !== undefined) write(state, slot.out)
      state.head++
    }
    if (state.head === q.length) {
      q.length = 0
      state.head = 0
    }
  }

  const complete = (state: ConnectionState, slot: Slot, out: Buffer | undefined) => {
    slot.done = true
    slot.out = out
    state.inFlight--
    flush(state)
    if ((state.hold & HOLD_IN_FLIGHT) !== 0 && state.inFlight < maxInFlight) release(state, HOLD_IN_FLIGHT)
  }

  /** Turn a handler's Exit into the slot's reply (or error frame). */
  const settle = (
    state: ConnectionState,
    slot: Slot,
    route: Route,
    command: number,
    exit: Exit.Exit<unknown, unknown>
  ) => {
    // answered already (it timed out): what the handler did in the end goes nowhere
    if (slot.done) return
    if (slot.span !== undefined) Tracing.end(edge.tracing!, slot.span, exit)
    if (Exit.isSuccess(exit)) {
      const value = exit.value
      if (value === undefined) return complete(state, slot, undefined)
      const encoded = route.command.encodeResponse(value as never)
      if (Either.isRight(encoded))
        return complete(state, slot, Frame.encodeBuffer(frame, command, encoded.right))
      report("handlerDefects", state.info, "error", () => encoded.left.message)
      return complete(
        state,
        slot,
        errorFrame({
          command,
          error: "Defect",
          message: debugErrors ? encoded.left.message : "internal error"
        })
      )
    }
    if (Cause.isInterruptedOnly(exit.cause)) return complete(state, slot, undefined)
    const { error, message, tag, failure } = errorMessage(exit.cause)
    if (error === "Defect") {
      report("handlerDefects", state.info, "error", () => `${route.command.name} died`, exit.cause)
    } else {
      report("handlerFailures", state.info, "warning", () => `${route.command.name} failed: ${message}`)
    }
    const shown = debugErrors
      ? message
      : error === "Defect"
        ? "internal error"
        : `${route.command.name} failed`
    // a declared error goes to the client whole, encoded by the command's error Schema
    const value = error === "Defect" ? Option.none() : route.command.encodeError(failure)
    const errorBody: NetCommand.ErrorBody =
      tag === undefined
        ? { command, error, message: shown }
        : Option.isSome(value)
          ? { command, error, message: shown, tag, value: value.value }
          : { command, error, message: shown, tag }
    complete(state, slot, errorFrame(errorBody))
  }
  const settleGuarded = (
    state: ConnectionState,
    slot: Slot,
    route: Route,
    command: number,
    exit: Exit.Exit<unknown, unknown>
  ) => {
    try {
      settle(state, slot, route, command, exit)
    } catch (defect) {
      edgeDefect(state, defect)
    }
  }

  const { requestMillis } = edge.settings
  const timedOut = (state: ConnectionState, slot: Slot) => {
    const fiber = slot.fiber
    const cancel = slot.cancel
    slot.fiber = undefined
    slot.cancel = undefined
    const name = edge.router.routes.get(slot.command)?.command.name ?? String(slot.command)
    if (slot.span !== undefined) {
      Tracing.endRefused(edge.tracing!, slot.span, "Timeout", Exit.fail("Timeout"))
    }
    report(
      "requestTimeouts",
      state.info,
      "warning",
      () => `${name} did not answer within ${requestMillis} ms`
    )
    complete(
      state,
      slot,
      errorFrame({
        command: slot.command,
        error: "Timeout",
        message: `${name} did not answer within ${requestMillis} ms (requestTimeout)`
      })
    )
    cancel?.()
    fiber?.unsafeInterruptAsFork(FiberId.none)
  }
  const expire = (state: ConnectionState, now: number) => {
    const q = state.queue
    // slots are in arrival order: the first one still in time ends the search
    for (let i = state.head; i < q.length; i++) {
      const slot = q[i]!
      if (slot.done) continue
      if (now - slot.startedAt < requestMillis) return
      timedOut(state, slot)
      // the queue was emptied by the flush (its indices start again): nothing is left
      if (q.length === 0) return
    }
  }

  return { errorFrame, complete, settle, settleGuarded, expire }
}
