/**
 * The error of a config file that cannot be used.
 *
 * @since 0.1.0
 */
import { Data } from "effect"
/**
 * A config file that cannot be used. `issues` holds one line per problem.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly reason: "NotFound" | "InvalidJson" | "Invalid"
  readonly file: string
  readonly issues: ReadonlyArray<string>
}> {
  override get message(): string {
    return `${this.file}: ${this.issues.join("; ")}`
  }
}
