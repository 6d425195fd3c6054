/**
 * The node that made the current inter-node call, as a service of the
 * handler's context (`yield* Caller` in a `Root.serve` / `Remote.serve`
 * handler). Re-exported as `Root.Caller` and `Remote.Caller`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"

/**
 * The calling node, from the authenticated session of the link the call
 * came over (never from anything the peer sent).
 *
 * @since 0.1.0
 * @category tags
 */
export class Caller extends Context.Tag("hotaru/Caller")<
  Caller,
  {
    /** The calling node's name. */
    readonly name: string
  }
>() {}
