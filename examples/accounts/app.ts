/**
 * The accounts example: a write-behind cached `accounts` table (Repository over Db + Mem) and the
 * three client commands on the net port (`AccountCommands`, handled together).
 */
import { randomBytes, scrypt } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Repository from "../../src/Repository.js"
import { AccountCommands, AccountNotFound } from "./commands.js"

/** A row of the `accounts` table. `password` holds `scrypt$<salt>$<hash>`, never the password. */
export const Account = Schema.Struct({
  id: Schema.Int,
  username: Schema.String,
  password: Schema.String
})
export type Account = typeof Account.Type

export interface AccountsOptions {
  /** Default `accounts`. */
  readonly table?: string | undefined
  readonly flushInterval?: Repository.RepositoryOptions<
    Account,
    typeof Account.Encoded,
    "id"
  >["flushInterval"]
  readonly idleTimeout?: Repository.RepositoryOptions<Account, typeof Account.Encoded, "id">["idleTimeout"]
}

/** Creates the table if it is missing (portable DDL: SQLite, MySQL/MariaDB, PostgreSQL). */
export const ensureTable = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.asVoid(
      sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
        id INTEGER PRIMARY KEY,
        username VARCHAR(255) NOT NULL,
        password VARCHAR(255) NOT NULL
      )`
    )
  )

/** The accounts repository of this node. */
export class Accounts extends Context.Tag("examples/accounts/Accounts")<
  Accounts,
  Repository.Repository<Account, "id">
>() {
  static readonly layer = (options: AccountsOptions = {}) =>
    Layer.scoped(
      Accounts,
      Effect.gen(function* () {
        const table = options.table ?? "accounts"
        yield* ensureTable(table).pipe(
          Effect.mapError(
            (e) => new Repository.RepositoryError({ reason: "Database", table, message: e.message, cause: e })
          )
        )
        return yield* Repository.make({
          table,
          schema: Account,
          primaryKey: "id",
          autoIncrement: true,
          flushInterval: options.flushInterval ?? "10 seconds",
          idleTimeout: options.idleTimeout ?? "30 minutes"
        })
      })
    )
}

/**
 * scrypt with a small cost (N = 1024) so the example registers thousands of accounts quickly;
 * a real game would raise it (N = 16384 or more).
 */
const hashPassword = (password: string) =>
  Effect.async<string, never>((resume) => {
    const salt = randomBytes(16)
    scrypt(password, salt, 32, { N: 1024 }, (error, key) => {
      if (error) resume(Effect.die(error))
      else resume(Effect.succeed(`scrypt$${salt.toString("base64")}$${key.toString("base64")}`))
    })
  })

const toPublic = (a: Account) => ({ id: a.id, username: a.username })

/**
 * The three command handlers, as a Layer for `NetServer.serve`. A repository failure (the
 * database is down…) is a defect to the client: it gets `Defect` ("internal error") and the
 * node logs the cause; `AccountNotFound` reaches the client typed.
 */
export const App = AccountCommands.toLayer({
  register: ({ username, password }) =>
    Effect.gen(function* () {
      const accounts = yield* Accounts
      const hash = yield* hashPassword(password)
      const row = yield* accounts.insert({ username, password: hash })
      return { id: row.value.id }
    }).pipe(Effect.orDie),
  get: ({ id }) =>
    Effect.gen(function* () {
      const accounts = yield* Accounts
      const row = yield* Effect.orDie(accounts.get(id))
      if (Option.isNone(row)) return yield* new AccountNotFound({ id })
      return toPublic(row.value)
    }),
  rename: ({ id, username }) =>
    Effect.gen(function* () {
      const accounts = yield* Accounts
      const row = yield* accounts
        .modify(id, (a) => ({ ...a, username }))
        .pipe(
          Effect.catchIf(
            (e) => e.reason === "NotFound",
            () => new AccountNotFound({ id })
          ),
          Effect.catchTag("RepositoryError", Effect.die)
        )
      return toPublic(row.value)
    })
})
