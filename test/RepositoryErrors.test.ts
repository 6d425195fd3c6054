import { Rpc } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Repository from "../src/Repository.js"

// A handler can declare the repository's errors in its Rpc error schema: they cross the wire.
const Rename = Rpc.make("Rename", {
  payload: { id: Schema.Int, name: Schema.String },
  success: Schema.Void,
  error: Schema.Union(Repository.Conflict, Repository.RepositoryError)
})

describe("Repository errors on the wire", () => {
  it.effect("Conflict round-trips through an Rpc error schema and is caught by its tag", () =>
    Effect.gen(function* () {
      const conflict = new Repository.Conflict({
        reason: "StaleVersion",
        table: "item",
        key: "1",
        expected: "a",
        actual: "b",
        message: "item: row 1 changed since it was read (version a is stale)"
      })
      const encoded = yield* Schema.encode(Rename.errorSchema)(conflict)
      const json = JSON.parse(JSON.stringify(encoded)) as unknown
      const decoded = yield* Schema.decodeUnknown(Rename.errorSchema)(json)
      expect(decoded).toBeInstanceOf(Repository.Conflict)
      const caught = yield* Effect.fail(decoded).pipe(
        Effect.catchTag("Conflict", (e) =>
          Effect.succeed(`${e.reason} ${e.key} ${e.expected}→${e.actual}: ${e.message}`)
        ),
        Effect.catchTag("RepositoryError", () => Effect.succeed("wrong tag"))
      )
      expect(caught).toBe("StaleVersion 1 a→b: item: row 1 changed since it was read (version a is stale)")
    })
  )

  it.effect("RepositoryError keeps its reason, message and cause across the wire", () =>
    Effect.gen(function* () {
      const error = new Repository.RepositoryError({
        reason: "NotFound",
        table: "item",
        message: "item: no row with key 7",
        cause: new Error("boom")
      })
      const json = JSON.parse(JSON.stringify(yield* Schema.encode(Rename.errorSchema)(error))) as unknown
      const decoded = yield* Schema.decodeUnknown(Rename.errorSchema)(json)
      expect(decoded._tag).toBe("RepositoryError")
      const reason = yield* Effect.fail(decoded).pipe(
        Effect.catchTag("RepositoryError", (e) => Effect.succeed(`${e.reason}: ${e.message}`)),
        Effect.catchTag("Conflict", () => Effect.succeed("wrong tag"))
      )
      expect(reason).toBe("NotFound: item: no row with key 7")
    })
  )
})
