/**
 * The cost of the embedded default's durability: inserts per second on an SQLite file with the
 * in-process cache, write-through (`durability: "strict"`, the default: each write committed to
 * SQLite before it is acknowledged) against write-behind (`"accept-loss"`: the firefly way).
 *
 *   node --import tsx bench/durability.ts [rows=2000]
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Db from "../src/Db.js"
import * as Mem from "../src/Mem.js"
import * as Repository from "../src/Repository.js"

const Row = Schema.Struct({ id: Schema.Int, name: Schema.String, score: Schema.Int })
const rows = Number(process.argv[2] ?? 2000)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hotaru-dur-bench-"))

const run = (durability: "strict" | "accept-loss", concurrency: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL, score INTEGER NOT NULL)`
    const repo = yield* Repository.make({
      table: "t",
      schema: Row,
      primaryKey: "id",
      autoIncrement: true,
      flushInterval: "1 hour"
    })
    const start = performance.now()
    yield* Effect.forEach(
      Array.from({ length: rows }, (_, i) => i),
      (i) => repo.insert({ name: `n${i}`, score: i }),
      { concurrency, discard: true }
    )
    const acked = performance.now() - start
    yield* repo.flush
    const total = performance.now() - start
    return { durability, concurrency, acked, total }
  }).pipe(
    Effect.scoped,
    Effect.provide(
      Layer.mergeAll(
        Db.layer({ driver: "sqlite", filename: path.join(dir, `${durability}-${concurrency}.sqlite`) }),
        Mem.layerMemory({ durability })
      )
    )
  )

const program = Effect.gen(function* () {
  console.log(`${rows} inserts, SQLite file in ${dir}, in-process cache`)
  console.log("| durability | concurrency | acknowledged/s | µs per ack | incl. final flush/s |")
  console.log("|---|---|---|---|---|")
  for (const concurrency of [1, 32]) {
    for (const durability of ["accept-loss", "strict"] as const) {
      const r = yield* run(durability, concurrency)
      console.log(
        `| ${r.durability} | ${r.concurrency} | ${Math.round((rows / r.acked) * 1000)} | ${Math.round((r.acked * 1000) / rows)} | ${Math.round((rows / r.total) * 1000)} |`
      )
    }
  }
  fs.rmSync(dir, { recursive: true, force: true })
})

Effect.runPromise(program)
