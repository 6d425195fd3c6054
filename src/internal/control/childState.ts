/**
 * `ChildState`, the lifecycle state of a supervised child (re-exported by the public
 * `NodeSupervisor` module; a host agent reports its nodes' states with it).
 *
 * @internal
 */
import { Schema } from "effect"

/**
 * The lifecycle state of a supervised child. `failed`: it restarted too often and is left down;
 * `failed-retrying`: the same, but it is tried again later (see `ChildSpec.retryFailed`).
 *
 * @since 0.1.0
 * @category models
 */
export const ChildState = Schema.Literal(
  "starting",
  "running",
  "backoff",
  "failed",
  "failed-retrying",
  "stopped"
)
export type ChildState = typeof ChildState.Type
