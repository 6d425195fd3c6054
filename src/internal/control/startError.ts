/**
 * Why a node's layer failed to build, as a `NodeError`: a service its app needs that no
 * capability of the node provides, a wrong peer name, or anything else (`Start`).
 *
 * @since 0.1.0
 */
import { Cause, Chunk, Context, Option } from "effect"
import * as Topology from "../rpc/topology.js"
import { NodeError } from "./nodeError.js"

/**
 * A service a capability provides (`hotaru/Root` by `rootport`) and the defect effect raises when
 * a build needs it and it is absent. The node passes its capability tags in (`capability`), so
 * this module reads no public module.
 */
export interface CapabilityTag {
  readonly key: string
  readonly capability: string
  readonly defect: string
}

/**
 * The capability of `tag`. effect has no typed error for a missing service: it dies with a plain
 * `Error` of its own making. Rather than read that text, effect is asked once for the defect it
 * raises for this very tag, and a build's defects are compared with it whole.
 */
export const capability = <I, S>(tag: Context.Tag<I, S>, capability: string): CapabilityTag => {
  let defect = ""
  try {
    Context.unsafeGet(Context.empty() as Context.Context<I>, tag)
  } catch (error) {
    defect = error instanceof Error ? error.message : String(error)
  }
  return { key: tag.key, capability, defect }
}

/** The capability whose service a build died for lack of (its defects only, never its failures). */
const missingCapability = (
  cause: Cause.Cause<unknown>,
  capabilities: ReadonlyArray<CapabilityTag>
): Option.Option<CapabilityTag> => {
  const messages = new Set(
    Chunk.toReadonlyArray(Cause.defects(cause)).flatMap((defect) =>
      defect instanceof Error ? [defect.message] : []
    )
  )
  return Option.fromNullable(capabilities.find((known) => known.defect !== "" && messages.has(known.defect)))
}

/** A wrong peer name the app used while it was built (`internal/rpc/topology.ts`). */
const unknownName = (cause: Cause.Cause<unknown>): Option.Option<Topology.UnknownName> =>
  Chunk.findFirst(
    Cause.defects(cause),
    (defect): defect is Topology.UnknownName => defect instanceof Topology.UnknownName
  )

/** Turn a missing capability (`hotaru/Root`, ...) or a wrong peer name at build time into a clear start error. */
export const explainMissing =
  (name: string, capabilities: ReadonlyArray<CapabilityTag>) => (cause: Cause.Cause<unknown>) => {
    const wrongName = unknownName(cause)
    if (Option.isSome(wrongName)) {
      return new NodeError({
        reason: "UnknownName",
        node: name,
        detail: `its app names ${wrongName.value.message}`
      })
    }
    const missing = missingCapability(cause, capabilities)
    if (Option.isSome(missing)) {
      const { capability, key } = missing.value
      return new NodeError({
        reason: "MissingCapability",
        node: name,
        detail: `its app needs ${key}, but the config gives "${name}" no ${capability}`
      })
    }
    return new NodeError({ reason: "Start", node: name, detail: Cause.pretty(cause) })
  }
