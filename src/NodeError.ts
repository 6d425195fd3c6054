/**
 * hotaru's errors. `NodeError`: a node that could not start (or reload); also
 * `Node.NodeError`. The others cross the wire between hotaru nodes.
 *
 * The wire errors (`NodeUnavailable`, `RegistrationRefused`) are
 * `Schema.TaggedError`s, so they can appear in the `error` schema of
 * any user `Rpc`: a parent handler that calls a child may fail with
 * `NodeUnavailable` and the original caller receives it typed.
 *
 * @since 0.1.0
 */
export { NodeError } from "./internal/control/nodeError.js"
export { NodeUnavailable, RegistrationRefused } from "./internal/rpc/wireErrors.js"
