/**
 * Effects that can also be started without a fiber.
 *
 * A node-RPC call is an `Effect` like any other, but its work is plain
 * callbacks: encode, send on the link, and later the link's reader hands the
 * reply to a pending callback. When a `NetServer` handler only forwards
 * (`(request) => backend.echo(request)`), running that Effect in a fiber of
 * its own costs more than the call itself (the fiber, its `FiberRefs`, the
 * scheduler hop when the reply resumes it). Such an Effect also offers
 * `start`: the same call, its `Exit` handed to a callback, on the caller's
 * stack and then on the link's reader's.
 *
 * Only `rpcClientSide.ts` makes them and only `NetServer.ts` starts them;
 * anything else runs them as ordinary Effects.
 *
 * @internal
 */
import type * as Exit from "effect/Exit"
import type * as FiberRefs from "effect/FiberRefs"
import type * as Tracer from "effect/Tracer"

/** Marks an Effect that can be started with `start`. */
export const TypeId: unique symbol = Symbol.for("hotaru/internal/DirectCall")

/** An Effect whose work can be started from plain code. */
export interface DirectCall {
  readonly [TypeId]: typeof TypeId
  /**
   * Start the work: `onExit` gets its `Exit` exactly once (maybe before this
   * returns), unless the returned function is called first (it gives the work
   * up). `fiberRefs` stand in for the fiber's (e.g. `RpcClient.currentHeaders`).
   * Returns undefined, having started nothing, when the work needs a fiber
   * after all (run the Effect instead). `parent` is the span the work runs
   * under when the node traces (a fiber's would be its `ParentSpan`).
   */
  readonly start: (
    fiberRefs: FiberRefs.FiberRefs,
    onExit: (exit: Exit.Exit<unknown, unknown>) => void,
    parent?: Tracer.AnySpan
  ) => (() => void) | undefined
}

/** Whether `u` (an Effect a handler returned) can be started with `start`. */
export const isDirectCall = (u: unknown): u is DirectCall =>
  typeof u === "object" && u !== null && TypeId in u
