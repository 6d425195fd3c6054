import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Db from "../src/Db.js"
import { needs, type ServiceName, uniqueName } from "./support/services.js"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hotaru-db-"))

const drivers: ReadonlyArray<{
  readonly name: string
  readonly services: ReadonlyArray<ServiceName>
  readonly options: Db.DbOptions
}> = [
  {
    name: "sqlite",
    services: [],
    options: { driver: "sqlite", filename: path.join(tmp, "nested", "dir", "t.sqlite") }
  },
  {
    name: "mysql",
    services: ["mariadb"],
    options: {
      driver: "mysql",
      host: "127.0.0.1",
      port: 3306,
      user: "root",
      passwd: "",
      db: "test",
      charset: "utf8"
    }
  },
  {
    name: "pg",
    services: ["postgres"],
    options: { driver: "pg", host: "127.0.0.1", user: "postgres", db: "test" }
  }
]

const injections = [
  "'; DROP TABLE users; --",
  `Robert'); DROP TABLE students;--`,
  `" OR "1"="1`,
  "\\'; SELECT 1; --",
  "名前 ✓ 🎮"
]

for (const driver of drivers) {
  describe(`Db.layer: ${driver.name}`, () => {
    needs(...driver.services)
    it.live("provides a working SqlClient and names its dialect; parameters are stored verbatim", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const db = yield* Db.Db
        expect(db.dialect).toBe(driver.name)
        expect(db.description).not.toContain("passwd")
        const table = uniqueName("dbt")
        yield* Effect.acquireRelease(
          sql`CREATE TABLE ${sql(table)} (id INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL)`,
          () => Effect.ignore(sql`DROP TABLE ${sql(table)}`)
        )
        yield* sql`INSERT INTO ${sql(table)} ${sql.insert(injections.map((name, id) => ({ id, name })))}`
        const rows = yield* sql<{ id: number; name: string }>`SELECT id, name FROM ${sql(table)} ORDER BY id`
        expect(rows.map((r) => r.name)).toEqual(injections)
        const one = yield* sql<{ id: number }>`SELECT id FROM ${sql(table)} WHERE name = ${injections[0]!}`
        expect(one.map((r) => Number(r.id))).toEqual([0])
      }).pipe(Effect.scoped, Effect.provide(Db.layer(driver.options)))
    )
  })
}

describe("Db", () => {
  it("layerSqlite created the missing directory of its file", () => {
    expect(fs.existsSync(path.join(tmp, "nested", "dir", "t.sqlite"))).toBe(true)
  })

  it.live("a database that is not there fails the layer with a SqlError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.provide(
          SqlClient.SqlClient,
          Db.layer({ driver: "mysql", host: "127.0.0.1", port: 1, user: "root", db: "test" })
        )
      )
      expect(error._tag).toBe("SqlError")
    })
  )

  it("fromFirefly: a firefly db block (no driver) is MySQL, as-is", () => {
    expect(
      Db.fromFirefly(
        { host: "localhost", user: "root", passwd: "111", port: 3306, db: "test", charset: "utf8" },
        "/p"
      )
    ).toEqual({
      driver: "mysql",
      host: "localhost",
      user: "root",
      passwd: "111",
      port: 3306,
      db: "test",
      charset: "utf8"
    })
    expect(Db.fromFirefly({ driver: "pg", host: "127.0.0.1", user: "postgres", db: "game" }, "/p")).toEqual({
      driver: "pg",
      host: "127.0.0.1",
      user: "postgres",
      db: "game"
    })
    expect(Db.fromFirefly({ driver: "sqlite" }, "/p")).toEqual({
      driver: "sqlite",
      filename: "/p/data/hotaru.sqlite"
    })
    expect(Db.fromFirefly({ driver: "sqlite", filename: "game.db" }, "/p")).toEqual({
      driver: "sqlite",
      filename: "/p/game.db"
    })
    expect(Db.describe({ driver: "mysql", host: "h", user: "u", passwd: "secret", db: "d" })).toBe(
      "mysql://u@h:3306/d"
    )
  })
})
