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
 * With `resume` on (`NetServer.Options.resume`, config `resume: { window }`), `bind` also sends
 * the client a resume token (`<node>.<128 random bits>`, a system frame) and the session outlives
 * a dropped connection: it is parked for the window with its uid, data, channels and running
 * handlers; pushes to it (`push` answers true) and its replies are kept, the last `buffer`
 * frames. A client that reconnects within the window and presents its token (the reconnecting
 * client does) gets the session back on the new connection, the frames it missed replayed in
 * order, none twice, and re-sends only the requests the server had not received: a call in
 * flight at the drop is answered once. Tokens are bound to the uid and single-use (a resume
 * issues the next one); a refusal is typed (`ResumeRefused`: `Resync` when the client missed
 * more than the buffer, `Unknown`, `Expired`, `Used`, `Invalid`) and the client logs in again.
 * `NetServer.onBind` / `onClose` run when a session starts and when it ends (for a parked
 * session: when its window passes, it is kicked, or a new login replaces it), not on a drop.
 * Under a master, a token presented on another front moves the session there (uid, channels,
 * missed frames; not session data): `onClose` runs on the old front, `onBind` on the new one.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import { type CurrentConnection, NetServer, withConnection } from "./internal/edge/service.js"
import type { SessionRefused } from "./internal/edge/sessions.js"
import type * as NetCommand from "./NetCommand.js"

export { ResumeRefused } from "./internal/edge/resumeWire.js"
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
 * Push `value` as `command` to player `uid` on this node; false if the player has no connection
 * (true for a parked session: the push waits in its buffer for the player's resume).
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
