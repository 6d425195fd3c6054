/**
 * One chaos-suite node: a net port serving four commands on a write-behind (or write-through)
 * repository `chaos_rows {id, v}`. Run by `bench/chaos/run.ts`, never by hand:
 *
 *   node --import tsx bench/chaos/node.ts <json options>
 *
 * Prints `{"ready":true,"port":N}` once listening. SIGTERM is a clean stop (final flush).
 */
import { NodeRuntime } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Db from "../../src/Db.js"
import * as Mem from "../../src/Mem.js"
import * as NetCommand from "../../src/NetCommand.js"
import * as NetServer from "../../src/NetServer.js"
import * as Repository from "../../src/Repository.js"

export const Row = Schema.Struct({ id: Schema.Int, v: Schema.Int })
export type Row = typeof Row.Type

/** The row exists already (an insert). */
export class Exists extends Schema.TaggedError<Exists>()("Exists", {}) {}
/** No such row (a set or cas). */
export class Missing extends Schema.TaggedError<Missing>()("Missing", {}) {}
/** The compare-and-set lost against another writer: read again and retry. */
export class Stale extends Schema.TaggedError<Stale>()("Stale", {}) {}
/** Anything else (cache or database unavailable, lock timeout): the write is not acknowledged. */
export class Failed extends Schema.TaggedError<Failed>()("Failed", { why: Schema.String }) {}

/** What a write can answer instead of success (declared: the client receives them typed). */
export const Refused = Schema.Union(Exists, Missing, Stale, Failed)

/** Command 1: insert a row (fails with `Exists` if it is there). */
export const Insert = NetCommand.json(1, {
  name: "insert",
  request: Row,
  response: Schema.Struct({}),
  error: Refused
})
/** Command 2: set a row's value (read-modify-write under the row lock). */
export const SetValue = NetCommand.json(2, {
  name: "set",
  request: Row,
  response: Schema.Struct({}),
  error: Refused
})
/** Command 3: compare-and-set increment: read, then `update` with the version read. */
export const Cas = NetCommand.json(3, {
  name: "cas",
  request: Schema.Struct({ id: Schema.Int }),
  response: Schema.Struct({ v: Schema.Int }),
  error: Refused
})

export interface NodeOptions {
  readonly db: Db.DbOptions
  readonly mem: Mem.MemOptions
  readonly table: string
  readonly flushIntervalMs: number
  readonly leaseTtlMs: number
}

class Rows extends Context.Tag("chaos/Rows")<Rows, Repository.Repository<Row, "id">>() {}

const refuse = (e: Repository.RepositoryError | Repository.Conflict): Exists | Missing | Stale | Failed =>
  e._tag === "Conflict"
    ? new Stale()
    : e.reason === "DuplicateKey"
      ? new Exists()
      : e.reason === "NotFound"
        ? new Missing()
        : new Failed({ why: `${e.reason}: ${e.message}` })

const App = Layer.mergeAll(
  NetServer.handle(Insert, (row) =>
    Effect.flatMap(Rows, (rows) => rows.insert(row)).pipe(Effect.as({}), Effect.mapError(refuse))
  ),
  NetServer.handle(SetValue, ({ id, v }) =>
    Effect.flatMap(Rows, (rows) => rows.modify(id, (r) => ({ ...r, v }))).pipe(
      Effect.as({}),
      Effect.mapError(refuse)
    )
  ),
  NetServer.handle(Cas, ({ id }) =>
    Effect.gen(function* () {
      const rows = yield* Rows
      const now = yield* rows.getVersioned(id)
      if (Option.isNone(now)) return yield* new Missing()
      const next = yield* rows.update({ ...now.value, value: { id, v: now.value.value.v + 1 } })
      return { v: next.value.v }
    }).pipe(Effect.mapError((e) => (e._tag === "Missing" ? e : refuse(e))))
  )
)

const main = () => {
  const options = JSON.parse(process.argv[2] ?? "{}") as NodeOptions
  const rowsLayer = Layer.scoped(
    Rows,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(options.table)} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)`.pipe(
        Effect.retry({ times: 3 }),
        Effect.orDie
      )
      return yield* Repository.make({
        table: options.table,
        schema: Row,
        primaryKey: "id",
        flushInterval: Duration.millis(options.flushIntervalMs),
        leaseTtl: Duration.millis(options.leaseTtlMs),
        lockTimeout: "2 seconds"
      })
    })
  )
  const node = NetServer.serve(App, { host: "127.0.0.1", port: 0, node: "chaos" }).pipe(
    Layer.provide(rowsLayer),
    Layer.provide(Layer.mergeAll(Db.layer(options.db), Mem.layer(options.mem)))
  )
  NodeRuntime.runMain(
    Effect.gen(function* () {
      const net = yield* NetServer.NetServer
      console.log(JSON.stringify({ ready: true, port: net.address.port }))
      return yield* Effect.never
    }).pipe(Effect.provide(node))
  )
}

if (process.argv[1]?.endsWith("node.ts")) main()
