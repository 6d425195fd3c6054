/**
 * The names a node may use for its links, checked where an app names a peer: `Remote.serve`
 * and `remote.parent` take a parent (a `remoteport` entry of this node), `root.child` takes a
 * child (a server listing this node in its `remoteport`). `Node.layer` provides the check built
 * from the config; `Root`/`Remote` used on their own (no `TopologyCheck` in context) check
 * nothing. A wrong name dies with `UnknownName`, which `Node` turns into a start error
 * (`NodeError` reason `UnknownName`) when it happens while the app is being built.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** Which side of a link a name was used for. */
export type Role = "parent" | "child"

/** An app named a peer its node has no link to (a typo in `Remote.serve("lobbby", …)`). */
export class UnknownName extends Data.TaggedError("UnknownName")<{
  readonly node: string
  readonly role: Role
  readonly name: string
  readonly valid: ReadonlyArray<string>
}> {
  override get message(): string {
    const known =
      this.valid.length === 0
        ? `"${this.node}" has no ${this.role === "parent" ? "parents (no remoteport)" : "children (no server lists it in its remoteport)"}`
        : `${this.role === "parent" ? "parents" : "children"} of "${this.node}": ${this.valid.map((v) => `"${v}"`).join(", ")}`
    return `no ${this.role} named "${this.name}" (${known})`
  }
}

/** The valid names of one node's links. */
export class TopologyCheck extends Context.Tag("hotaru/internal/TopologyCheck")<
  TopologyCheck,
  {
    readonly node: string
    readonly parents: ReadonlyArray<string>
    readonly children: ReadonlyArray<string>
  }
>() {}

const checkWith = (
  topology: Option.Option<Context.Tag.Service<TopologyCheck>>,
  role: Role,
  name: string
): Effect.Effect<void> => {
  if (Option.isNone(topology)) return Effect.void
  const { children, node, parents } = topology.value
  const valid = role === "parent" ? parents : children
  return valid.includes(name) ? Effect.void : Effect.die(new UnknownName({ node, role, name, valid }))
}

/** Check `name` against the `TopologyCheck` of the current context (if any). */
export const check = (role: Role, name: string): Effect.Effect<void> =>
  Effect.flatMap(Effect.serviceOption(TopologyCheck), (topology) => checkWith(topology, role, name))

/** Capture the `TopologyCheck` of the current context once; the checker works anywhere later. */
export const checker: Effect.Effect<(role: Role, name: string) => Effect.Effect<void>> = Effect.map(
  Effect.serviceOption(TopologyCheck),
  (topology) => (role, name) => checkWith(topology, role, name)
)
