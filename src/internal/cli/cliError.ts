/**
 * What the `hotaru` command prints when it fails: a user error (a missing or bad config, no
 * master running, a port in use, an app module that does not load) is one or two lines — what
 * went wrong, then what to do — with no stack trace; only an unexpected defect suggests
 * `--verbose`, which prints the whole cause with its stack instead.
 */
import { ValidationError } from "@effect/cli"
import { Cause, Data, Option, Predicate } from "effect"
import type { AgentError } from "../../Agent.js"
import type { ConfigError } from "../../HotaruConfig.js"
import type { MasterError } from "../../Master.js"
import { NodeError } from "../control/nodeError.js"
import { ScaffoldError } from "./scaffold.js"

/** An admin request to a master that failed. */
export class AdminRequestError extends Data.TaggedError("AdminRequestError")<{
  /**
   * `NoMaster`: nothing listens on the master's webport; `Unauthorized`: the token was refused;
   * `Failed`: anything else (an HTTP error, a timeout).
   */
  readonly reason?: "NoMaster" | "Unauthorized" | "Failed"
  readonly url: string
  readonly detail: string
  /** The config file the command was given (named in the message). */
  readonly config?: string
}> {
  override get message(): string {
    if (this.reason === "NoMaster") {
      const { host } = new URL(this.url)
      return `No master is running at ${host}${this.config === undefined ? "" : ` (config ${this.config})`}`
    }
    if (this.reason === "Unauthorized") {
      return `the master at ${new URL(this.url).host} refused the admin token (${this.detail})`
    }
    return `${this.url}: ${this.detail}`
  }
}

/** `hotaru status --ready NAME`: the node is not running and linked to the master (yet). */
export class NotReady extends Data.TaggedError("NotReady")<{
  readonly node: string
  readonly detail: string
}> {
  override get message(): string {
    return `${this.node} is not ready: ${this.detail}`
  }
}

/** Whether a `fetch` failure means nothing listens at the address. */
export const isConnectionRefused = (e: unknown): boolean => {
  const cause = (e as { readonly cause?: { readonly code?: unknown; readonly errors?: unknown } }).cause
  if (cause?.code === "ECONNREFUSED") return true
  // several addresses tried (happy eyeballs): refused on all of them
  return (
    Array.isArray(cause?.errors) &&
    cause.errors.length > 0 &&
    cause.errors.every((x: { readonly code?: unknown }) => x?.code === "ECONNREFUSED")
  )
}

const verboseHint = "(run it again with --verbose for the stack trace)"

/** A message without the stack frames some causes carry inside their text. */
const withoutStack = (text: string): string =>
  text
    .split("\n")
    .filter((line) => !/^\s+at /.test(line))
    .join("\n")
    .trim()

// recognised by tag: the classes live in public modules, which internal code may not import
const isConfigError = (u: unknown): u is ConfigError => Predicate.isTagged(u, "ConfigError")
const isAgentError = (u: unknown): u is AgentError => Predicate.isTagged(u, "AgentError")
const isMasterError = (u: unknown): u is MasterError => Predicate.isTagged(u, "MasterError")

const hintOf = (error: unknown): string | undefined => {
  if (isConfigError(error)) {
    return error.reason === "NotFound"
      ? "give the cluster's config file as the CONFIG argument (default: config.json in the current directory)"
      : undefined
  }
  if (error instanceof AdminRequestError) {
    switch (error.reason) {
      case "NoMaster":
        return `start it with \`hotaru start ${error.config ?? "CONFIG"}\`, or check the config's master.webport`
      case "Unauthorized":
        return "pass --token, set HOTARU_ADMIN_TOKEN, or run the command where the master's .hotaru-admin-token is"
      default:
        return undefined
    }
  }
  if (error instanceof NodeError) {
    switch (error.reason) {
      case "UnknownNode":
        return 'NAME is a key of the config\'s "servers"'
      case "AppLoad":
        return "fix the app module named by the server's app key (the error above comes from loading it)"
      default:
        return undefined
    }
  }
  if (error instanceof ScaffoldError) return "choose a new or empty directory"
  if (error instanceof NotReady) return "(a readiness check: it passes once the node runs and is linked)"
  if (isAgentError(error)) {
    switch (error.reason) {
      case "NoMaster":
        return 'add the master\'s host to the config: "master": {"roothost": "10.0.0.1", "rootport": 9999, …}'
      case "UnknownNode":
        return "give --only the names of servers of the config, comma-separated (--only gate,game1)"
      default:
        return undefined
    }
  }
  if (isMasterError(error)) {
    switch (error.reason) {
      case "Listen":
        return "is another master running? (`hotaru status` shows it)"
      case "NoMaster":
        return 'add a "master" block ({"rootport": 9999, "webport": 9998}), or run one node with `hotaru node NAME CONFIG`'
      case "UnknownNode":
        return "give --only the names of servers of the config, comma-separated (--only net,gate)"
      default:
        return undefined
    }
  }
  return undefined
}

/**
 * The lines `hotaru` prints for a failed command (without a stack trace): `[]` when there is
 * nothing to add (an interruption, or a usage error @effect/cli has already printed).
 */
export const explain = (cause: Cause.Cause<unknown>): ReadonlyArray<string> => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (ValidationError.isValidationError(error)) return []
    if (isConfigError(error)) {
      // one line per problem, each naming the file
      const lines = error.issues.map((issue) => `hotaru: ${error.file}: ${issue}`)
      const hint = hintOf(error)
      return hint === undefined ? lines : [...lines, hint]
    }
    const message = withoutStack(error instanceof Error ? error.message : String(error))
    return [`hotaru: ${message}`, hintOf(error) ?? verboseHint]
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) {
    const d = defect.value
    return [
      `hotaru: unexpected error: ${withoutStack(d instanceof Error ? d.message : String(d))}`,
      verboseHint
    ]
  }
  return Cause.isInterruptedOnly(cause) ? [] : [`hotaru: ${Cause.pretty(cause).split("\n")[0]}`, verboseHint]
}
