/**
 * The dashboard's login: the admin token is posted once in a form body (never in a URL) and
 * traded for a session cookie, `HttpOnly` (page scripts cannot read it) and `SameSite=Strict`
 * (other sites cannot send it), scoped to `/dashboard`.
 *
 * The cookie is `<expiry>.<HMAC-SHA256 of the expiry, keyed by the admin token>`: the master
 * keeps no session table, the token cannot be recovered from a cookie, a changed token ends every
 * session, and a cookie ends at its expiry (12 hours; Effect `Clock`). The MAC is compared in
 * constant time.
 *
 * @internal
 */
import { createHmac } from "node:crypto"
import type { HttpServerRequest } from "@effect/platform"
import { Clock, Effect } from "effect"
import { reveal, type Secret } from "../config/secret.js"
import { sameText } from "../wire/sameText.js"

/** The session cookie's name. */
export const cookieName = "hotaru_dashboard"

/** How long a session lasts. */
export const sessionSeconds = 12 * 60 * 60

const mac = (token: Secret, expiry: number): string =>
  createHmac("sha256", reveal(token)).update(`hotaru-dashboard-session:${expiry}`).digest("base64url")

/** A fresh session cookie's value for `token`. */
export const issue = (token: Secret): Effect.Effect<string> =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    const expiry = Math.floor(now / 1000) + sessionSeconds
    return `${expiry}.${mac(token, expiry)}`
  })

/** The `Set-Cookie` header of a session (or of its end, with `value` empty). */
export const setCookie = (value: string): string =>
  `${cookieName}=${value}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=${value === "" ? 0 : sessionSeconds}`

/** The value of the session cookie in a `Cookie` header, if any (the first one). */
const cookieOf = (header: string | undefined): string | undefined => {
  if (header === undefined || header.length > 8192) return undefined
  for (const part of header.split(";")) {
    const [key, ...rest] = part.trim().split("=")
    if (key === cookieName) return rest.join("=")
  }
  return undefined
}

/** Whether the request carries a valid, unexpired session of `token`. */
export const isSignedIn = (
  request: HttpServerRequest.HttpServerRequest,
  token: Secret
): Effect.Effect<boolean> =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    const value = cookieOf(request.headers.cookie)
    if (reveal(token) === "" || value === undefined) return false
    const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value)
    if (match === null) return false
    const expiry = Number(match[1])
    const seconds = Math.floor(now / 1000)
    return expiry > seconds && expiry <= seconds + sessionSeconds && sameText(match[2]!, mac(token, expiry))
  })

/** Whether `given` is the admin token (constant time; an empty token refuses everything). */
export const isToken = (given: string, token: Secret): boolean =>
  reveal(token) !== "" && sameText(given, reveal(token))

/**
 * The `token` field of a login form body (`application/x-www-form-urlencoded`), if the body is
 * one and has it.
 */
export const tokenOfForm = (body: string): string | undefined => {
  const params = new URLSearchParams(body)
  const token = params.get("token")
  return token === null ? undefined : token
}

/**
 * Whether a login comes from the dashboard's own page: a browser sends `Origin` with a form
 * post, and it must be this server (a login forced from another site is refused).
 */
export const sameOrigin = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const origin = request.headers.origin
  const host = request.headers.host
  if (origin === undefined) return true // not a browser's cross-site post
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`)
}
