/**
 * The accounts example's client protocol (JSON bodies in firefly's 17-byte frame), shared by the
 * server (`app.ts`) and any client.
 */
import * as Schema from "effect/Schema"
import * as Command from "../../src/Command.js"

/** What `get` and `rename` answer: the row without its password hash. */
export const PublicAccount = Schema.Struct({ id: Schema.Int, username: Schema.String })
export type PublicAccount = typeof PublicAccount.Type

const Username = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255))

/** Command 1: `register {username, password}` → `{id}`. */
export const Register = Command.json(1, {
  name: "register",
  request: Schema.Struct({ username: Username, password: Schema.String.pipe(Schema.minLength(1)) }),
  response: Schema.Struct({ id: Schema.Int })
})

/** Command 2: `get {id}` → the row. */
export const Get = Command.json(2, {
  name: "get",
  request: Schema.Struct({ id: Schema.Int }),
  response: PublicAccount
})

/** Command 3: `rename {id, username}` → the row. */
export const Rename = Command.json(3, {
  name: "rename",
  request: Schema.Struct({ id: Schema.Int, username: Username }),
  response: PublicAccount
})

/** The typed error `get`/`rename` fail with (the error frame's `tag`). */
export class AccountNotFound extends Schema.TaggedError<AccountNotFound>()("AccountNotFound", {
  id: Schema.Int
}) {
  override get message(): string {
    return `no account ${this.id}`
  }
}
