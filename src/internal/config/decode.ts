/**
 * Decoding a parsed config file: the Schema, then the cross-checks; every problem one line.
 *
 * @since 0.1.0
 */
import { Either, ParseResult, Schema } from "effect"
import { ConfigError } from "./configError.js"
import { crossCheck } from "./crossCheck.js"
import { HotaruConfig } from "./schema.js"

const fmtPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, key) =>
      typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`,
    ""
  )

/**
 * Decode a parsed JSON value; every problem becomes one `path: message` line.
 *
 * @since 0.1.0
 * @category utils
 */
export const decode = (file: string, json: unknown): Either.Either<HotaruConfig, ConfigError> =>
  Schema.decodeUnknownEither(HotaruConfig, { errors: "all", onExcessProperty: "ignore" })(json).pipe(
    Either.mapLeft(
      (error) =>
        new ConfigError({
          reason: "Invalid",
          file,
          issues: ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => {
            const message = issue._tag === "Missing" ? "is required but missing" : issue.message
            return issue.path.length === 0 ? message : `${fmtPath(issue.path)}: ${message}`
          })
        })
    ),
    Either.flatMap((config) => {
      const issues = crossCheck(config)
      return issues.length === 0
        ? Either.right(config)
        : Either.left(new ConfigError({ reason: "Invalid", file, issues }))
    })
  )
