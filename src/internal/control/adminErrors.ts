/**
 * The errors of the master's admin calls that its internals raise: `RestartFailed` (a node on
 * another host its agent could not restart) and `ReloadRefused` (a reload refused before any node
 * was touched). Re-exported by the public `AdminApi` module, whose endpoints answer with them.
 *
 * @internal
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/**
 * 503: `restart` named a node that runs on another host whose agent is not linked to the master
 * (or did not do it).
 *
 * @since 0.1.0
 * @category errors
 */
export class RestartFailed extends Schema.TaggedError<RestartFailed>()(
  "RestartFailed",
  { node: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/**
 * 409: a `reload` refused before any node was touched: the config file is broken
 * (`InvalidConfig`) or changes the topology (`TopologyChanged`); one line per problem in `issues`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReloadRefused extends Schema.TaggedError<ReloadRefused>()(
  "ReloadRefused",
  {
    reason: Schema.Literal("InvalidConfig", "TopologyChanged"),
    file: Schema.String,
    issues: Schema.Array(Schema.String),
    message: Schema.String
  },
  HttpApiSchema.annotations({ status: 409 })
) {
  /** A refusal with its `message` written from the file and the issues. */
  static refuse(reason: ReloadRefused["reason"], file: string, issues: ReadonlyArray<string>): ReloadRefused {
    return new ReloadRefused({
      reason,
      file,
      issues,
      message: `reload refused, ${file}: ${issues.join("; ")}`
    })
  }
}
