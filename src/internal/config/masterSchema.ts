/**
 * The Schemas of the master's blocks: `master` (its listeners) and `supervisor` (its restart policy).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { BindConfig } from "./bind.js"
import { HttpConfig } from "./edgeSchema.js"
import { described, opt, Port, PositiveNumber, Str } from "./primitives.js"
/**
 * The `master` block.
 *
 * @since 0.1.0
 * @category utils
 */
export const MasterConfig = Schema.Struct({
  roothost: opt(Str),
  rootport: Port,
  webport: opt(Port),
  /** hotaru: listen addresses of the master's rootport and admin web (see `BindConfig`). */
  bind: opt(BindConfig),
  /** hotaru: limits of the admin web (see `HttpConfig`). */
  http: opt(HttpConfig)
})
export type MasterConfig = typeof MasterConfig.Type

/**
 * hotaru's `supervisor` block: restart policy of the master.
 *
 * @since 0.1.0
 * @category utils
 */
export const SupervisorConfig = Schema.Struct({
  maxRestarts: opt(described(Schema.Int.pipe(Schema.between(0, 1000)), "an integer 0-1000")),
  withinSeconds: opt(PositiveNumber),
  graceSeconds: opt(PositiveNumber),
  /**
   * What the master does with a node that restarted more than `maxRestarts` times within
   * `withinSeconds` (state `failed`): `"retry"` (default) keeps trying it at a slow capped rate
   * with jitter (state `failed-retrying`); `"exit"` stops every node and exits the master with a
   * non-zero code, so systemd or Kubernetes restarts the whole tree.
   */
  onFailed: opt(described(Schema.Literal("retry", "exit"), '"retry" or "exit"')),
  /** First delay, in seconds, before a `failed` node is retried (default 30; doubles per retry). */
  retrySeconds: opt(PositiveNumber),
  /** Largest delay, in seconds, between retries of a `failed` node (default 300). */
  retryMaxSeconds: opt(PositiveNumber)
})
export type SupervisorConfig = typeof SupervisorConfig.Type
