/**
 * The `db` capability: a `SqlClient` (from `@effect/sql`) on SQLite (the embedded default, a file
 * under the project), MySQL/MariaDB or PostgreSQL, plus a small `Db` service naming the dialect.
 *
 * ```ts
 * const program = Effect.gen(function* () {
 *   const sql = yield* SqlClient.SqlClient
 *   return yield* sql`SELECT ${1} AS one`
 * }).pipe(Effect.provide(Db.layer({ driver: "sqlite", filename: "data/game.sqlite" })))
 * ```
 *
 * The drivers are optional peer dependencies, imported only when a layer of theirs is built:
 * `@effect/sql-sqlite-node` (SQLite), `@effect/sql-mysql2` (MySQL/MariaDB), `@effect/sql-pg`
 * (PostgreSQL). A missing one fails the layer with `MissingPackageError` naming it.
 */
import { mkdirSync } from "node:fs"
import * as path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type { DbConfig } from "./HotaruConfig.js"
import { importOptional, MissingPackageError } from "./internal/config/optionalPackage.js"

export { MissingPackageError }

/**
 * @since 0.1.0
 * @category models
 */
export type Dialect = "sqlite" | "mysql" | "pg"

/**
 * @since 0.1.0
 * @category models
 */
export interface SqliteOptions {
  readonly driver: "sqlite"
  /** Path of the database file (its directory is created if missing), or `":memory:"`. */
  readonly filename: string
}

/**
 * firefly's `db` block: `{ host, user, passwd, port, db, charset }`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MysqlOptions {
  readonly driver: "mysql"
  readonly host: string
  readonly port?: number | undefined
  readonly user: string
  readonly passwd?: string | undefined
  readonly db: string
  /** firefly writes `"utf8"`; it is read as `utf8mb4` (MySQL's 3-byte `utf8` cannot store emoji). */
  readonly charset?: string | undefined
  readonly maxConnections?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PgOptions {
  readonly driver: "pg"
  readonly host: string
  readonly port?: number | undefined
  readonly user: string
  readonly passwd?: string | undefined
  readonly db: string
  readonly maxConnections?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type DbOptions = SqliteOptions | MysqlOptions | PgOptions

/**
 * What the node's database is.
 *
 * @since 0.1.0
 * @category services
 */
export class Db extends Context.Tag("hotaru/Db")<
  Db,
  {
    readonly dialect: Dialect
    /** A human description without the password, e.g. `mysql://root@127.0.0.1:3306/test`. */
    readonly description: string
  }
>() {}

/**
 * A description of the options without the password.
 *
 * @since 0.1.0
 * @category utils
 */
export const describe = (options: DbOptions): string => {
  switch (options.driver) {
    case "sqlite":
      return `sqlite:${options.filename}`
    case "mysql":
      return `mysql://${options.user}@${options.host}:${options.port ?? 3306}/${options.db}`
    case "pg":
      return `postgres://${options.user}@${options.host}:${options.port ?? 5432}/${options.db}`
  }
}

const dbLayer = (options: DbOptions) =>
  Layer.succeed(Db, { dialect: options.driver, description: describe(options) })

/**
 * @since 0.1.0
 * @category layers
 */
export const layerSqlite = (
  options: Omit<SqliteOptions, "driver">
): Layer.Layer<Db | SqlClient.SqlClient, ConfigError | MissingPackageError> =>
  Layer.merge(
    Layer.unwrapEffect(
      Effect.map(
        importOptional("@effect/sql-sqlite-node", "an SQLite db", () => import("@effect/sql-sqlite-node")),
        ({ SqliteClient }) => {
          if (options.filename !== ":memory:")
            mkdirSync(path.dirname(path.resolve(options.filename)), { recursive: true })
          return SqliteClient.layer({ filename: options.filename })
        }
      )
    ),
    dbLayer({ driver: "sqlite", ...options })
  )

const mysqlCharset = (charset: string | undefined): string => {
  if (charset === undefined) return "UTF8MB4_GENERAL_CI"
  const upper = charset.toUpperCase()
  return upper === "UTF8" || upper === "UTF8MB3" ? "UTF8MB4_GENERAL_CI" : upper
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMysql = (
  options: Omit<MysqlOptions, "driver">
): Layer.Layer<Db | SqlClient.SqlClient, SqlError | ConfigError | MissingPackageError> =>
  Layer.merge(
    Layer.unwrapEffect(
      Effect.map(
        importOptional("@effect/sql-mysql2", "a MySQL/MariaDB db", () => import("@effect/sql-mysql2")),
        ({ MysqlClient }) =>
          MysqlClient.layer({
            host: options.host,
            port: options.port ?? 3306,
            username: options.user,
            database: options.db,
            maxConnections: options.maxConnections ?? 10,
            poolConfig: { charset: mysqlCharset(options.charset) },
            ...(options.passwd !== undefined && options.passwd !== ""
              ? { password: Redacted.make(options.passwd) }
              : {})
          })
      )
    ),
    dbLayer({ driver: "mysql", ...options })
  )

/**
 * @since 0.1.0
 * @category layers
 */
export const layerPg = (
  options: Omit<PgOptions, "driver">
): Layer.Layer<Db | SqlClient.SqlClient, SqlError | ConfigError | MissingPackageError> =>
  Layer.merge(
    Layer.unwrapEffect(
      Effect.map(
        importOptional("@effect/sql-pg", "a PostgreSQL db", () => import("@effect/sql-pg")),
        ({ PgClient }) =>
          PgClient.layer({
            host: options.host,
            port: options.port ?? 5432,
            username: options.user,
            database: options.db,
            maxConnections: options.maxConnections ?? 10,
            ...(options.passwd !== undefined && options.passwd !== ""
              ? { password: Redacted.make(options.passwd) }
              : {})
          })
      )
    ),
    dbLayer({ driver: "pg", ...options })
  )

/**
 * The `Db` and `SqlClient` services for the driver the options name.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: DbOptions
): Layer.Layer<Db | SqlClient.SqlClient, SqlError | ConfigError | MissingPackageError> => {
  switch (options.driver) {
    case "sqlite":
      return layerSqlite(options)
    case "mysql":
      return layerMysql(options)
    case "pg":
      return layerPg(options)
  }
}

/**
 * firefly's top-level `db` block, as the config reads it (`Config.DbConfig`): hotaru adds an
 * optional `driver` (default `"mysql"`, as in firefly) and `filename` (SQLite only, relative to
 * the config file's directory).
 *
 * @since 0.1.0
 * @category models
 */
export type FireflyDbBlock = DbConfig

/**
 * The default SQLite file, relative to the config file's directory.
 *
 * @since 0.1.0
 * @category utils
 */
export const defaultSqliteFile = "data/hotaru.sqlite"

/**
 * Reads a firefly `db` block: no `driver` key means MySQL (firefly's only database); `driver:
 * "pg"` or `"sqlite"` select the others. Missing MySQL/pg fields get firefly's defaults
 * (`localhost`, `root`, database `test`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromFirefly = (block: FireflyDbBlock, configDir: string): DbOptions => {
  const driver = block.driver ?? "mysql"
  if (driver === "sqlite") {
    const file = block.filename ?? defaultSqliteFile
    return { driver, filename: file === ":memory:" ? file : path.resolve(configDir, file) }
  }
  return {
    driver,
    host: block.host ?? "localhost",
    user: block.user ?? "root",
    db: block.db ?? "test",
    ...(block.port !== undefined ? { port: block.port } : {}),
    ...(block.passwd !== undefined ? { passwd: block.passwd } : {}),
    ...(driver === "mysql" && block.charset !== undefined ? { charset: block.charset } : {})
  }
}
