/**
 * How a master or a host agent restarts the node processes it supervises, from the config's
 * `supervisor` block: restart intensity, the slow retry of a failed node, the stop grace.
 *
 * @internal
 */
import { Duration, type Schedule } from "effect"
import type * as HotaruConfig from "../../HotaruConfig.js"
import { slowRetry } from "./restartSchedule.js"

/** The supervision settings of `config`. */
export interface NodePolicy {
  readonly grace: Duration.Duration
  readonly onFailed: "retry" | "exit"
  readonly intensity: { readonly maxRestarts: number; readonly within: Duration.Duration }
  readonly retryFailed: Schedule.Schedule<unknown, unknown> | undefined
}

/** The supervision settings of `config` (defaults: 5 restarts in 60 s, retry every 30–300 s, grace 5 s). */
export const policyOf = (config: HotaruConfig.HotaruConfig): NodePolicy => {
  const policy = config.supervisor
  const onFailed = policy?.onFailed ?? "retry"
  return {
    grace: Duration.seconds(policy?.graceSeconds ?? 5),
    onFailed,
    intensity: {
      maxRestarts: policy?.maxRestarts ?? 5,
      within: Duration.seconds(policy?.withinSeconds ?? 60)
    },
    retryFailed:
      onFailed === "retry"
        ? slowRetry(
            Duration.seconds(policy?.retrySeconds ?? 30),
            Duration.seconds(policy?.retryMaxSeconds ?? 300)
          )
        : undefined
  }
}
