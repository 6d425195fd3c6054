/**
 * The dashboard routes of the master's admin web, all under `/dashboard`:
 *
 * | route | answer |
 * |---|---|
 * | `GET /dashboard` | the dashboard page when signed in, else the login page |
 * | `POST /dashboard/login` | form `token=...` (at most 4 KiB, same origin): 303 to the page with the session cookie, or 401 |
 * | `POST /dashboard/logout` | same origin: 303 to the login page, the cookie cleared (403 from another site) |
 * | `GET /dashboard/events` | server-sent events, one snapshot a second (401 without a session; at most 16 streams, each closed after 5 minutes: the page's `EventSource` reconnects) |
 * | `GET /dashboard/dashboard.js`, `dashboard.css` | the static script and style sheet |
 *
 * {@link secure} gives every response of the admin web (these and the API's) its safe headers:
 * a CSP allowing only the page's own script, style and event stream (`frame-ancestors 'none'`),
 * `nosniff`, no referrer to other sites (a same-origin one, so that a form post carries its `Origin`), no caching.
 *
 * @internal
 */
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect, Ref, Schedule, Stream } from "effect"
import type { Secret } from "../config/secret.js"
import { readLimited } from "../web/http.js"
import type { Assets } from "./dashboardAssets.js"
import * as Auth from "./dashboardAuth.js"
import { encode, type Source } from "./dashboardData.js"

/** The headers every answer of the admin web carries. */
export const safeHeaders: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store"
}

/** `app` with the safe headers on every response. */
export const secure = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> =>
  Effect.map(app, (response) => HttpServerResponse.setHeaders(response, safeHeaders))

/** Whether a request is for the dashboard. */
export const isDashboard = (url: string): boolean => url === "/dashboard" || url.startsWith("/dashboard/")

const maxLogin = 4 * 1024
const maxStreams = 16
/**
 * How long one event stream lives: then its socket is closed, whether the client reads or not (a
 * client that never reads would hold its slot forever; its unread snapshots stay bounded by the
 * socket's backpressure until then). The page's `EventSource` reconnects after 2 s.
 */
const maxStreamLife = "5 minutes"
const encoder = new TextEncoder()

const html = (body: string, status = 200) =>
  HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8" })

const json = (status: number, error: string, message: string) =>
  HttpServerResponse.unsafeJson({ error, message }, { status })

const seeOther = (location: string, cookie: string) =>
  HttpServerResponse.empty({ status: 303, headers: { location, "set-cookie": cookie } })

/** The dashboard's HTTP app over `source`, behind the admin `token`. */
export const make = (
  source: Source,
  token: Secret,
  assets: Assets
): Effect.Effect<
  Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>
> =>
  Effect.gen(function* () {
    const streams = yield* Ref.make(0)
    const loginPage = (error: string, status: number) =>
      html(assets.login.replace("<!--error-->", error), status)

    const login = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function* () {
        if (!Auth.sameOrigin(request)) return loginPage("Refused: not this dashboard's page.", 403)
        const type = request.headers["content-type"] ?? ""
        if (!type.startsWith("application/x-www-form-urlencoded")) {
          return loginPage("Refused: not a login form.", 415)
        }
        const body = yield* Effect.either(readLimited(request, maxLogin))
        if (body._tag === "Left") return loginPage("Refused: too large.", 413)
        const given = Auth.tokenOfForm(body.right.toString("utf8"))
        if (given === undefined || !Auth.isToken(given, token)) {
          yield* Effect.logWarning("dashboard: a login with a wrong token was refused")
          return loginPage("Wrong token.", 401)
        }
        return seeOther("/dashboard", Auth.setCookie(yield* Auth.issue(token)))
      })

    const events = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function* () {
        const admitted = yield* Ref.modify(streams, (n) => (n < maxStreams ? [true, n + 1] : [false, n]))
        if (!admitted) return json(503, "Unavailable", "too many dashboard streams")
        const snapshots = Stream.repeatEffectWithSchedule(source.snapshot, Schedule.spaced("1 second")).pipe(
          Stream.mapEffect(encode),
          Stream.map((doc) => encoder.encode(`data: ${doc}\n\n`))
        )
        const closeLater = Effect.sleep(maxStreamLife).pipe(
          Effect.andThen(() => NodeHttpServerRequest.toServerResponse(request).destroy())
        )
        // the closer lives in the stream's scope: it goes when the stream does
        const stream = Stream.unwrapScoped(
          Effect.as(
            Effect.forkScoped(closeLater),
            Stream.concat(Stream.make(encoder.encode("retry: 2000\n\n")), snapshots)
          )
        ).pipe(Stream.ensuring(Ref.update(streams, (n) => n - 1)))
        return HttpServerResponse.stream(stream, {
          contentType: "text/event-stream",
          headers: { "x-accel-buffering": "no" }
        })
      })

    return Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const path = request.url.split("?")[0] ?? ""
      const get = request.method === "GET" || request.method === "HEAD"
      const post = request.method === "POST"
      if (get && path === "/dashboard/dashboard.js") {
        return HttpServerResponse.text(assets.script, { contentType: "text/javascript; charset=utf-8" })
      }
      if (get && path === "/dashboard/dashboard.css") {
        return HttpServerResponse.text(assets.style, { contentType: "text/css; charset=utf-8" })
      }
      if (post && path === "/dashboard/login") return yield* login(request)
      if (post && path === "/dashboard/logout") {
        if (!Auth.sameOrigin(request)) return loginPage("Refused: not this dashboard's page.", 403)
        return seeOther("/dashboard", Auth.setCookie(""))
      }
      const signedIn = yield* Auth.isSignedIn(request, token)
      if (get && (path === "/dashboard" || path === "/dashboard/")) {
        return signedIn ? html(assets.index) : loginPage("", 200)
      }
      if (get && path === "/dashboard/events") {
        return signedIn ? yield* events(request) : json(401, "Unauthorized", "sign in at /dashboard first")
      }
      return json(404, "NotFound", "no such dashboard route")
    }).pipe(Effect.orDie)
  })
