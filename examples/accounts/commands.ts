/**
 * The accounts example's client protocol (JSON bodies in firefly's 17-byte frame), shared by the
 * server (`app.ts`) and any client.
 */
import * as Schema from "effect/Schema"
import * as NetCommand from "../../src/NetCommand.js"
import * as NetCommandGroup from "../../src/NetCommandGroup.js"

/** What `get` and `rename` answer: the row without its password hash. */
export const PublicAccount = Schema.Struct({ id: Schema.Int, username: Schema.String })
export type PublicAccount = typeof PublicAccount.Type

/**
 * The typed error `get` and `rename` declare: a client receives it whole (`catchTag("AccountNotFound", …)`).
 */
export class AccountNotFound extends Schema.TaggedError<AccountNotFound>()("AccountNotFound", {
  id: Schema.Int
}) {
  override get message(): string {
    return `no account ${this.id}`
  }
}

const Username = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255))

/** Command 1: `register {username, password}` → `{id}`. */
export const Register = NetCommand.json(1, {
  name: "register",
  request: Schema.Struct({ username: Username, password: Schema.String.pipe(Schema.minLength(1)) }),
  response: Schema.Struct({ id: Schema.Int })
})

/** Command 2: `get {id}` → the row, or `AccountNotFound`. */
export const Get = NetCommand.json(2, {
  name: "get",
  request: Schema.Struct({ id: Schema.Int }),
  response: PublicAccount,
  error: AccountNotFound
})

/** Command 3: `rename {id, username}` → the row, or `AccountNotFound`. */
export const Rename = NetCommand.json(3, {
  name: "rename",
  request: Schema.Struct({ id: Schema.Int, username: Username }),
  response: PublicAccount,
  error: AccountNotFound
})

/** The three commands; `AccountCommands.toLayer({ register, get, rename })` must handle each. */
export const AccountCommands = NetCommandGroup.make(Register, Get, Rename)
