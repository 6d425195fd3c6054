/**
 * Optional peer dependencies (database and cache drivers, tsx): imported only when a node's
 * config uses them, with a clear error naming the package to install when one is missing.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"

/**
 * An optional package hotaru needs for what the config asks is not installed.
 *
 * @since 0.1.0
 * @category errors
 */
export class MissingPackageError extends Data.TaggedError("MissingPackageError")<{
  /** The npm package to install, e.g. `"ioredis"`. */
  readonly package: string
  /** What needs it, e.g. `"the redis mem backend"`. */
  readonly feature: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.feature} needs the package "${this.package}", which is not installed: npm install ${this.package}`
  }
}

const notFoundCodes = new Set(["ERR_MODULE_NOT_FOUND", "MODULE_NOT_FOUND", "ERR_PACKAGE_PATH_NOT_EXPORTED"])

/** Whether `error` says `pkg` itself (not something inside it) cannot be found. */
export const isMissing = (error: unknown, pkg: string): boolean => {
  if (typeof error !== "object" || error === null) return false
  const code = (error as { readonly code?: unknown }).code
  const message = String((error as { readonly message?: unknown }).message ?? "")
  const names = message.includes(`'${pkg}'`) || message.includes(`"${pkg}"`) || message.includes(` ${pkg} `)
  // Node: ERR_MODULE_NOT_FOUND "Cannot find package 'x'"; Bun and Deno word it their own way
  return (
    (typeof code === "string" && notFoundCodes.has(code) && names) ||
    (/cannot find (package|module)/i.test(message) && names)
  )
}

/**
 * Import `pkg` with `load` (a literal `import("pkg")`, so bundlers and type checkers see it);
 * a missing package fails with `MissingPackageError`, any other import error is a defect.
 */
export const importOptional = <A>(
  pkg: string,
  feature: string,
  load: () => Promise<A>
): Effect.Effect<A, MissingPackageError> =>
  Effect.tryPromise({ try: load, catch: (cause) => cause }).pipe(
    Effect.catchAll((cause) =>
      isMissing(cause, pkg)
        ? Effect.fail(new MissingPackageError({ package: pkg, feature, cause }))
        : Effect.die(cause)
    )
  )
