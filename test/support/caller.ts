/**
 * The calling node's name as the RPC headers carry it (set by the session, never by the peer):
 * tests read it beside the `Root.Caller` service to check both agree.
 */
import type { Headers } from "@effect/platform"
import { callerHeader } from "../../src/internal/rpc/rpcWire.js"

export const callerOf = (options: { readonly headers: Headers.Headers }): string =>
  options.headers[callerHeader] ?? "unknown"
