/**
 * How a client of the reconnect storm (`storm.ts`) logs in, and comes back after its connection
 * dropped. `bind`: the first time and every time after, a `login` with its player id (the server
 * binds the new connection to it, closing the older one if it has not seen that one go yet).
 * A resume variant is one more entry here: `first` keeps the token its login answers, `again`
 * sends it on the new connection instead of logging in.
 */
import { LOGIN } from "./wire.js"
import type { WsConn } from "./wsConn.js"

export interface Rejoin<S> {
  readonly name: string
  /** Log in as `uid` on a fresh connection; resolves with what `again` needs later. */
  readonly first: (conn: WsConn, uid: string) => Promise<S>
  /** Be `uid` again on a new connection after the drop; resolves with what the next `again` needs. */
  readonly again: (conn: WsConn, uid: string, state: S) => Promise<S>
}

const login = async (conn: WsConn, uid: string): Promise<void> => {
  const reply = (await conn.request(LOGIN, Buffer.from(uid, "utf8"))).toString("utf8")
  if (reply !== uid) throw new Error(`login ${uid}: answered ${reply.slice(0, 200)}`)
}

/** Log in again with a bind (no server-side resume). */
export const bindAgain: Rejoin<void> = {
  name: "bind",
  first: login,
  again: (conn, uid) => login(conn, uid)
}

/** By `--rejoin` name. */
export const rejoins: Record<string, Rejoin<unknown>> = {
  bind: bindAgain as Rejoin<unknown>
}
