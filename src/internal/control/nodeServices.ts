/**
 * The services every node provides about itself: `NodeInfo`, `Lifecycle`, `AppHost`
 * (re-exported by the public `Node` module).
 *
 * @internal
 */
import { Context, type Effect } from "effect"
import type * as HotaruConfig from "../../HotaruConfig.js"
import type { NodeError } from "../../NodeError.js"

/**
 * What every node knows about itself.
 *
 * @since 0.1.0
 * @category services
 */
export class NodeInfo extends Context.Tag("hotaru/Node/NodeInfo")<
  NodeInfo,
  {
    readonly name: string
    readonly config: HotaruConfig.Loaded
    readonly server: HotaruConfig.ServerConfig
    /** The capabilities this node was built with, e.g. `["rootport", "netport"]`. */
    readonly capabilities: ReadonlyArray<string>
    /** Epoch millis of the start. */
    readonly startedAt: number
  }
>() {}

/**
 * Ask the node to stop, or wait for that request (what a node's main does).
 *
 * @since 0.1.0
 * @category services
 */
export class Lifecycle extends Context.Tag("hotaru/Node/Lifecycle")<
  Lifecycle,
  {
    /** Request a clean stop (the node's main closes its scope). */
    readonly shutdown: Effect.Effect<void>
    /** Completes when a stop was requested. */
    readonly awaitShutdown: Effect.Effect<void>
  }
>() {}

/**
 * Holds the node's app; `reload` swaps it for a freshly imported one without closing any client.
 *
 * @since 0.1.0
 * @category errors
 */
export class AppHost extends Context.Tag("hotaru/Node/AppHost")<
  AppHost,
  {
    /** Re-import the node's `reload` module (else its `app`) and swap the handlers; returns the file. */
    readonly reload: Effect.Effect<string, NodeError>
    /** How many reloads succeeded. */
    readonly reloads: Effect.Effect<number>
  }
>() {}
