/**
 * Sessions: a client connection bound to a player id, from a handler.
 *
 * ```ts
 * const Login = NetCommand.json(1, { request: Credentials, response: Schema.String, error: SessionRefused })
 * const App = NetServer.handle(Login, (credentials) =>
 *   Effect.gen(function* () {
 *     const uid = yield* checkPassword(credentials)
 *     yield* Session.bind(uid) // a second login of uid kicks the old connection (or is refused)
 *     return uid
 *   })
 * )
 * // elsewhere on the node: Session.push(uid, Chat, "hello") reaches the player's connection
 * ```
 *
 * One uid has at most one connection per edge (TCP and WebSocket share one); what a second login
 * does is the server's `duplicateLogin` (`kick`, the default, or `refuse`). The binding ends when
 * the connection closes; a disconnect hook still reads the uid and the session data.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import { type CurrentConnection, NetServer, withConnection } from "./internal/edge/service.js"
import type { SessionRefused } from "./internal/edge/sessions.js"
import type * as NetCommand from "./NetCommand.js"

export { type DuplicatePolicy, SessionRefused } from "./internal/edge/sessions.js"

/**
 * Bind the current connection to player `uid` (its login).
 *
 * @since 0.1.0
 * @category utils
 */
export const bind = (uid: string): Effect.Effect<void, SessionRefused, NetServer | CurrentConnection> =>
  withConnection((server, connection) => server.bind(connection, uid))

/**
 * The player id of the current connection, if it is bound.
 *
 * @since 0.1.0
 * @category utils
 */
export const uid: Effect.Effect<Option.Option<string>, never, NetServer | CurrentConnection> = withConnection(
  (server, connection) => server.uidOf(connection)
)

/**
 * Close the connection of player `uid` on this node; false if it has none.
 *
 * @since 0.1.0
 * @category utils
 */
export const kick = (uid: string): Effect.Effect<boolean, never, NetServer> =>
  Effect.flatMap(NetServer, (server) =>
    Effect.flatMap(
      server.connectionOf(uid),
      Option.match({ onNone: () => Effect.succeed(false), onSome: server.kick })
    )
  )

/**
 * Push `value` as `command` to player `uid` on this node; false if the player has no connection.
 *
 * @since 0.1.0
 * @category utils
 */
export const push = <Name extends string, Req, Res>(
  uid: string,
  command: NetCommand.Command<Name, Req, Res>,
  value: Res
): Effect.Effect<boolean, NetCommand.BodyError, NetServer> =>
  Effect.flatMap(NetServer, (server) =>
    Effect.flatMap(
      server.connectionOf(uid),
      Option.match({
        onNone: () => Effect.succeed(false),
        onSome: (id) => Effect.map(server.push(command, value, [id]), (n) => n > 0)
      })
    )
  )

/**
 * A typed key of session data.
 *
 * @since 0.1.0
 * @category models
 */
export interface Key<A> {
  readonly name: string
  /** Type-level only. */
  readonly _A?: (a: A) => A
}

/**
 * A key of session data holding an `A`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const key = <A>(name: string): Key<A> => ({ name })

/**
 * The current connection's value under `key`.
 *
 * @since 0.1.0
 * @category utils
 */
export const get = <A>(key: Key<A>): Effect.Effect<Option.Option<A>, never, NetServer | CurrentConnection> =>
  withConnection((server, connection) =>
    Effect.map(server.sessionData(connection), (data) =>
      Option.fromNullable(data?.get(key.name) as A | undefined)
    )
  )

/**
 * Set the current connection's value under `key` (it lives as long as the connection).
 *
 * @since 0.1.0
 * @category utils
 */
export const set = <A>(key: Key<A>, value: A): Effect.Effect<void, never, NetServer | CurrentConnection> =>
  withConnection((server, connection) =>
    Effect.map(server.sessionData(connection), (data) => {
      data?.set(key.name, value)
    })
  )
