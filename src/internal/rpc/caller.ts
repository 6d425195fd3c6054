/**
 * The `Caller` service (re-exported by the public `Caller` module, and as
 * `Root.Caller` and `Remote.Caller`).
 *
 * @internal
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
