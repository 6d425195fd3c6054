/**
 * The node that made the current inter-node call, as a service of the
 * handler's context (`yield* Caller` in a `Root.serve` / `Remote.serve`
 * handler). Re-exported as `Root.Caller` and `Remote.Caller`.
 *
 * @since 0.1.0
 */
export { Caller } from "./internal/rpc/caller.js"
