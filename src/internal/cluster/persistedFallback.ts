/**
 * A runner that stops gracefully must not strand the persisted requests it was serving.
 *
 * A node sends a persisted entity request to the runner that owns its shard as a `Runners` RPC
 * (`Effect` / `Stream` with `persisted: true`); the runner waits for the entity's reply
 * (`storage.registerReplyHandler`). When that runner shuts down (SIGTERM, `hotaru stop`), its entity
 * is interrupted without a reply (the message stays unprocessed in storage for the next owner) and
 * its RPC server then interrupts the waiting handler and answers the request with an
 * interruption. @effect/cluster 0.60's `Runners` client treats a failure of that RPC as "the runner
 * is unavailable, read the reply from storage", but an interruption is no failure: it reaches the
 * caller of the entity as an interruption of its own fiber, so the call never answers (a net
 * handler interrupted that way sends nothing back) although the new owner processes the message.
 *
 * This protocol wrapper turns such an interruption of a persisted request into the cluster's own
 * `EntityNotAssignedToRunner` failure, which is what the runner answers anyway for a request that
 * reaches an entity while it is closing: the caller then reads the reply from storage, written once
 * by whichever runner processes the message. Nothing is resent (the message is persisted already),
 * so no message is lost or duplicated. Non-persisted requests keep the interruption.
 *
 * @internal
 */
import type * as RpcClient from "@effect/rpc/RpcClient"
import type { FromServerEncoded } from "@effect/rpc/RpcMessage"
import * as Effect from "effect/Effect"

type CauseEncoded = {
  readonly _tag: string
  readonly left?: CauseEncoded
  readonly right?: CauseEncoded
}

/** Whether an encoded cause holds interruptions only (and at least one). */
const interruptOnly = (cause: CauseEncoded | undefined): boolean => {
  const visit = (c: CauseEncoded | undefined): "interrupt" | "empty" | "other" => {
    if (c === undefined) return "other"
    switch (c._tag) {
      case "Interrupt":
        return "interrupt"
      case "Empty":
        return "empty"
      case "Sequential":
      case "Parallel": {
        const l = visit(c.left)
        const r = visit(c.right)
        if (l === "other" || r === "other") return "other"
        return l === "interrupt" || r === "interrupt" ? "interrupt" : "empty"
      }
      default:
        return "other"
    }
  }
  return visit(cause) === "interrupt"
}

/** The entity address (encoded) of a persisted `Runners` request, if `payload` is one. */
const persistedAddress = (tag: string, payload: unknown): unknown => {
  if (tag !== "Effect" && tag !== "Stream") return undefined
  if (typeof payload !== "object" || payload === null) return undefined
  const p = payload as { readonly persisted?: unknown; readonly request?: unknown }
  if (p.persisted !== true || typeof p.request !== "object" || p.request === null) return undefined
  return (p.request as { readonly address?: unknown }).address
}

/** `protocol`, with interruptions of persisted requests answered as `EntityNotAssignedToRunner`. */
export const wrap = (protocol: RpcClient.Protocol["Type"], runner: string): RpcClient.Protocol["Type"] => {
  // request id → entity address (encoded), while the request is in flight
  const inFlight = new Map<string, unknown>()
  return {
    ...protocol,
    send: (request, transferables) => {
      if (request._tag === "Request") {
        const address = persistedAddress(request.tag, request.payload)
        if (address !== undefined) inFlight.set(request.id, address)
      } else if (request._tag === "Interrupt") {
        inFlight.delete(request.requestId)
      }
      return protocol.send(request, transferables)
    },
    run: (f) =>
      protocol.run((message: FromServerEncoded) => {
        if (message._tag === "ClientProtocolError" || message._tag === "Defect") {
          // every request in flight fails (and takes the storage path) or is gone
          inFlight.clear()
          return f(message)
        }
        if (message._tag !== "Exit") return f(message)
        const address = inFlight.get(message.requestId)
        if (address === undefined) return f(message)
        inFlight.delete(message.requestId)
        const exit = message.exit as { readonly _tag: string; readonly cause?: CauseEncoded }
        if (exit._tag !== "Failure" || !interruptOnly(exit.cause)) return f(message)
        return Effect.zipRight(
          Effect.logDebug(
            `runner ${runner} interrupted persisted request ${message.requestId} (it is stopping): ` +
              "its reply is read from storage"
          ),
          f({
            ...message,
            exit: {
              _tag: "Failure",
              cause: { _tag: "Fail", error: { _tag: "EntityNotAssignedToRunner", address } }
            }
          })
        )
      })
  }
}
