/**
 * The building blocks of the config Schemas: a message per field in the file's own words
 * (`expected a port number 1-65535, got "x"`), optional keys, and the scalar types the blocks share.
 *
 * @since 0.1.0
 */
import { type ParseResult, Schema } from "effect"

const got = (issue: ParseResult.ParseIssue): string => {
  const actual = issue.actual
  return actual === undefined ? "nothing" : JSON.stringify(actual)
}

/** Annotate `schema` with the message `expected <expected>, got <value>`. */
export const described = <S extends Schema.Schema.Any>(schema: S, expected: string, override = true) =>
  schema.annotations({
    message: (issue) => ({ message: `expected ${expected}, got ${got(issue)}`, override })
  }) as unknown as S

/**
 * Annotate a secret's `schema` with `expected <expected>, got <n> characters`: the message names
 * the length, never the text (a short secret is still someone's secret).
 */
export const describedSecret = <S extends Schema.Schema.Any>(schema: S, expected: string) =>
  schema.annotations({
    message: (issue) => ({
      message: `expected ${expected}, got ${
        typeof issue.actual === "string"
          ? `${issue.actual.length} characters`
          : issue.actual === null
            ? "null"
            : Array.isArray(issue.actual)
              ? "an array"
              : `${typeof issue.actual === "object" ? "an" : "a"} ${typeof issue.actual}`
      }`,
      override: true
    })
  }) as unknown as S

/** An optional key: absent is fine, `null` or a wrong type is not. */
export const opt = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

/**
 * A TCP port: an integer 1..65535.
 *
 * @since 0.1.0
 * @category utils
 */
export const Port = described(Schema.Int.pipe(Schema.between(1, 65535)), "a port number 1-65535")

/** A string. */
export const Str = described(Schema.String, "a string")
/** `true` or `false`. */
export const Bool = described(Schema.Boolean, "true or false")
/** A number > 0. */
export const PositiveNumber = described(Schema.Number.pipe(Schema.positive()), "a positive number")
/** An integer 0..255. */
export const Byte = described(Schema.Int.pipe(Schema.between(0, 255)), "a byte 0-255")
/** An unsigned 32-bit integer. */
export const UInt32 = described(Schema.Int.pipe(Schema.between(0, 0xffffffff)), "an unsigned 32-bit integer")

/** A count 1..10^7. */
export const Count = described(Schema.Int.pipe(Schema.between(1, 10_000_000)), "an integer >= 1")
/** A byte count 1024..2^31-1. */
export const Bytes = described(Schema.Int.pipe(Schema.between(1024, 0x7fffffff)), "a byte count 1024..2^31-1")
/** Seconds >= 0 (0 turns a timer off). */
export const Seconds = described(
  Schema.Number.pipe(Schema.nonNegative()),
  "a number of seconds >= 0 (0: off)"
)
