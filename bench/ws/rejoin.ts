/**
 * How a client of the reconnect storm (`storm.ts`) logs in, and comes back after its connection
 * dropped. `bind`: the first time and every time after, a `login` with its player id (the server
 * binds the new connection to it, closing the older one if it has not seen that one go yet).
 * `resume`: the first time a login, which the server (with `resume` on) answers with a resume
 * token; after the drop the new connection sends `Resume{token, uid, received}` instead of logging
 * in, and the server gives the parked session back (`ResumeOk` with a new token).
 */
import { LOGIN, RESUME } from "./wire.js"
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

interface Resumable {
  readonly token: string
  readonly received: number
}

/** Resume the session of the first login (the server's `resume` block must be on). */
export const resumeAgain: Rejoin<Resumable> = {
  name: "resume",
  first: async (conn, uid) => {
    await login(conn, uid)
    if (conn.token === undefined) throw new Error(`login ${uid}: no resume token (is resume on?)`)
    return { token: conn.token, received: conn.received }
  },
  again: async (conn, uid, { received, token }) => {
    const body = Buffer.from(JSON.stringify({ token, uid, received }), "utf8")
    const answer = JSON.parse((await conn.request(RESUME, body)).toString("utf8")) as {
      readonly _tag: string
      readonly token?: string
      readonly reason?: string
    }
    if (answer._tag !== "ResumeOk" || answer.token === undefined) {
      throw new Error(`resume ${uid}: refused (${answer.reason ?? answer._tag})`)
    }
    conn.received = received
    return { token: answer.token, received }
  }
}

/** By `--rejoin` name. */
export const rejoins: Record<string, Rejoin<unknown>> = {
  bind: bindAgain as Rejoin<unknown>,
  resume: resumeAgain as Rejoin<unknown>
}
