/**
 * Why a node's layer failed to build, as a `NodeError`: a service its app needs that no
 * capability of the node provides, a wrong peer name, or anything else (`Start`).
 *
 * @since 0.1.0
 */
import { Cause, Chunk, Option } from "effect"
import * as Topology from "../rpc/topology.js"
import { NodeError } from "./nodeError.js"

const capabilityOfService: Record<string, string> = {
  "hotaru/Root": "rootport",
  "hotaru/Remote": "remoteport",
  "hotaru/NetServer": "netport"
}

/**
 * The key of the service a build died for lack of: effect dies with a plain `Error` whose
 * message is `Service not found: <key>` (it has no typed error for it), so only the build's own
 * defects are looked at, never the text of its failures.
 */
const missingService = (cause: Cause.Cause<unknown>): Option.Option<string> =>
  Option.firstSomeOf(
    Chunk.map(Cause.defects(cause), (defect) => {
      const prefix = "Service not found: "
      if (!(defect instanceof Error) || !defect.message.startsWith(prefix)) return Option.none<string>()
      return Option.some(defect.message.slice(prefix.length).split(" (defined at ")[0]!.trim())
    })
  )

/** A wrong peer name the app used while it was built (`internal/rpc/topology.ts`). */
const unknownName = (cause: Cause.Cause<unknown>): Option.Option<Topology.UnknownName> =>
  Chunk.findFirst(
    Cause.defects(cause),
    (defect): defect is Topology.UnknownName => defect instanceof Topology.UnknownName
  )

/** Turn a missing service (`hotaru/Root`, ...) or a wrong peer name at build time into a clear start error. */
export const explainMissing = (name: string) => (cause: Cause.Cause<unknown>) => {
  const wrongName = unknownName(cause)
  if (Option.isSome(wrongName)) {
    return new NodeError({
      reason: "UnknownName",
      node: name,
      detail: `its app names ${wrongName.value.message}`
    })
  }
  const missing = missingService(cause)
  if (Option.isSome(missing)) {
    const key = missing.value
    const capability = capabilityOfService[key]
    return new NodeError({
      reason: "MissingCapability",
      node: name,
      detail:
        capability === undefined
          ? `its app needs the service ${key}, which no capability of this node provides`
          : `its app needs ${key}, but the config gives "${name}" no ${capability}`
    })
  }
  return new NodeError({ reason: "Start", node: name, detail: Cause.pretty(cause) })
}
