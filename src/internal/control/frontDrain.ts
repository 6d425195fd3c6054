/**
 * A front's graceful stop keeps its sessions resumable on another front: before its master link
 * goes, the edge drains (`NetServer.drain`: it stops accepting, parks every bound session and
 * serves the other fronts' `TakeSession` until none is left or the resume `drain` time passed).
 * Bounded below the supervisor's grace (`supervisor.graceSeconds`, after which the master
 * SIGKILLs the node): one second is left for the rest of the stop.
 *
 * @internal
 */
import { Duration, Effect, Layer, Option } from "effect"
import type * as HotaruConfig from "../../HotaruConfig.js"
import { NetServer } from "../edge/service.js"
import { policyOf } from "./nodePolicy.js"

/** The drain, built after the node's admin service: its finalizer then runs before that one's. */
export const after = <A, E, R>(
  config: HotaruConfig.HotaruConfig,
  admin: Layer.Layer<A, E, R>
): Layer.Layer<A, E, R> => Layer.provideMerge(drain(config), admin)

const drain = (config: HotaruConfig.HotaruConfig): Layer.Layer<never> =>
  Layer.scopedDiscard(
    Effect.flatMap(Effect.serviceOption(NetServer), (net) => {
      if (Option.isNone(net)) return Effect.void
      const cap = Duration.max(
        Duration.millis(500),
        Duration.subtract(policyOf(config).grace, Duration.seconds(1))
      )
      // finalizers are uninterruptible: the timeout needs the drain interruptible
      return Effect.addFinalizer(() =>
        net.value.drain.pipe(Effect.interruptible, Effect.timeoutOption(cap), Effect.asVoid)
      )
    })
  )
