/**
 * The master's admin API as an `@effect/platform` `HttpApi`: the one definition the master
 * serves on its `webport` and the CLI calls through the derived `HttpApiClient`.
 *
 * Every endpoint is behind `Authorization: Bearer <token>` ({@link Authorization}, a security
 * middleware comparing the token in constant time): without it or with a wrong one, a 401
 * `Unauthorized` before anything else runs.
 *
 * | endpoint | answer | errors |
 * |---|---|---|
 * | `GET /status` | {@link StatusReport} | |
 * | `POST /stop` (and `GET /stop`, firefly's URL) | `{ "stopping": true }` | |
 * | `POST /reload` (and `GET /reloadmodule`) | {@link ReloadReport} | 409 {@link ReloadRefused} |
 * | `POST /restart/:node` | `{ "restarted": node }` | 404 {@link UnknownNode}, 503 {@link RestartFailed} |
 * | `GET /metrics` | the master's and every linked node's metrics, Prometheus text format 0.0.4 (`docs/observability.md`) | |
 *
 * Errors are JSON `{ "_tag": ..., "message": ..., ... }`. The web server under it keeps the
 * limits of `Web.layerServer` (connection cap, header and request deadlines) and `Web.edge`
 * (413 for a body announced too large, a JSON 404 for an unknown path).
 *
 * ```ts
 * const admin = yield* AdminApi.client({ baseUrl: "http://127.0.0.1:9998", token })
 * const report = yield* admin.admin.status()
 * ```
 *
 * @since 0.1.0
 */
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiClient,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  HttpClient,
  HttpClientError,
  HttpClientRequest,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { Cause, Context, Effect, Layer, ParseResult, Redacted, Schema } from "effect"
import { reveal, secretOf } from "./internal/config/secret.js"
import { ReloadRefused, RestartFailed } from "./internal/control/adminErrors.js"
import * as DashboardAssets from "./internal/control/dashboardAssets.js"
import type * as DashboardData from "./internal/control/dashboardData.js"
import * as DashboardRoutes from "./internal/control/dashboardRoutes.js"
import { StatusReport } from "./internal/control/statusReport.js"
import { sameText } from "./internal/wire/sameText.js"
import type * as NodeSupervisor from "./NodeSupervisor.js"
import * as Web from "./Web.js"

export { ReloadRefused, RestartFailed } from "./internal/control/adminErrors.js"
export { DashboardAssetsError } from "./internal/control/dashboardAssets.js"
export type { Source as DashboardSource } from "./internal/control/dashboardData.js"
export { NodeState } from "./internal/control/nodeState.js"
export { MasterReport, Mode, NodeReport, StatusReport } from "./internal/control/statusReport.js"

/**
 * The answer of a reload: per linked node, `reloaded <module>` or `failed: <why>`.
 *
 * @since 0.1.0
 * @category models
 */
export const ReloadReport = Schema.Struct({
  nodes: Schema.Array(Schema.Struct({ node: Schema.String, result: Schema.String }))
})
export type ReloadReport = typeof ReloadReport.Type

/**
 * 401: no bearer token, or a wrong one.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

/**
 * 404: `restart` named no node of the config.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownNode extends Schema.TaggedError<UnknownNode>()(
  "UnknownNode",
  { node: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/**
 * The bearer-token guard of every admin endpoint.
 *
 * @since 0.1.0
 * @category services
 */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("hotaru/AdminApi/Authorization", {
  failure: Unauthorized,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

const Stopping = Schema.Struct({ stopping: Schema.Literal(true) })
const Restarted = Schema.Struct({ restarted: Schema.String })

/**
 * The admin endpoints (all behind {@link Authorization}).
 *
 * @since 0.1.0
 * @category models
 */
export class AdminGroup extends HttpApiGroup.make("admin")
  .add(HttpApiEndpoint.get("status", "/status").addSuccess(StatusReport))
  .add(HttpApiEndpoint.post("stop", "/stop").addSuccess(Stopping))
  .add(HttpApiEndpoint.get("stopGet", "/stop").addSuccess(Stopping))
  .add(HttpApiEndpoint.post("reload", "/reload").addSuccess(ReloadReport).addError(ReloadRefused))
  .add(HttpApiEndpoint.get("reloadModule", "/reloadmodule").addSuccess(ReloadReport).addError(ReloadRefused))
  .add(
    HttpApiEndpoint.post("restart", "/restart/:node")
      .setPath(Schema.Struct({ node: Schema.String }))
      .addSuccess(Restarted)
      .addError(UnknownNode)
      .addError(RestartFailed)
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics").addSuccess(
      HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" })
    )
  )
  .middleware(Authorization) {}

/**
 * The master's admin API.
 *
 * @since 0.1.0
 * @category models
 */
export class AdminApi extends HttpApi.make("hotaru-admin").add(AdminGroup) {}

/**
 * What the admin API does, given by the master.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handlers {
  readonly status: Effect.Effect<StatusReport>
  /** Starts a stop of every node (it goes on after the answer). */
  readonly stop: Effect.Effect<void>
  readonly reload: Effect.Effect<ReloadReport["nodes"], ReloadRefused>
  readonly restart: (node: string) => Effect.Effect<void, NodeSupervisor.SupervisorError | RestartFailed>
  /** The metrics exposition (Prometheus text format), the nodes' aggregated with a `node` label. */
  readonly metrics: Effect.Effect<string>
}

/**
 * The {@link Authorization} middleware for `token`: the bearer token must be exactly it
 * (compared in constant time); an empty `token` refuses everything.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAuthorization = (
  secret: string | Redacted.Redacted<string>
): Layer.Layer<Authorization> => {
  const token = secretOf(secret)
  return Layer.succeed(
    Authorization,
    Authorization.of({
      bearer: (given) =>
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
          // the platform takes what follows the first 7 characters: the scheme is checked here
          const isBearer = /^bearer /i.test(request.headers.authorization ?? "")
          const value = Redacted.value(given)
          return isBearer && reveal(token) !== "" && sameText(value, reveal(token))
            ? Effect.void
            : Effect.fail(
                new Unauthorized({
                  message:
                    !isBearer || value === ""
                      ? "missing bearer token (Authorization: Bearer <token>)"
                      : "invalid bearer token"
                })
              )
        })
    })
  )
}

/**
 * The admin endpoints implemented by `handlers`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHandlers = (
  handlers: Handlers
): Layer.Layer<HttpApiGroup.ApiGroup<"hotaru-admin", "admin">, never, Authorization> => {
  const stop = Effect.as(Effect.forkDaemon(handlers.stop), { stopping: true } as const)
  const reload = Effect.map(handlers.reload, (nodes) => ({ nodes }))
  return HttpApiBuilder.group(AdminApi, "admin", (h) =>
    h
      .handle("status", () => handlers.status)
      .handle("stop", () => stop)
      .handle("stopGet", () => stop)
      .handle("reload", () => reload)
      .handle("reloadModule", () => reload)
      .handle("metrics", () => handlers.metrics)
      .handle("restart", ({ path }) =>
        handlers.restart(path.node).pipe(
          Effect.as({ restarted: path.node }),
          Effect.mapError((e) =>
            e._tag === "RestartFailed" ? e : new UnknownNode({ node: path.node, message: e.message })
          )
        )
      )
  )
}

/**
 * Options of {@link layer}: where to listen, the web limits, and the token.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Web.WebOptions {
  readonly token: string | Redacted.Redacted<string>
  /**
   * What the live dashboard under `/dashboard` shows (the master gives it); without it there is
   * no dashboard. Its login trades the token for an `HttpOnly`, `SameSite=Strict` cookie.
   */
  readonly dashboard?: DashboardData.Source
}

/** A 401 says which scheme it wants. */
const challenge = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> =>
  Effect.map(app, (response) =>
    response.status === 401 ? HttpServerResponse.setHeader(response, "www-authenticate", "Bearer") : response
  )

/**
 * Serves the admin API on `host:port` with `handlers`, behind the token and the web limits of
 * `options` (see `Web.layerServer` and `Web.edge`).
 *
 * ```ts
 * const AdminLive = AdminApi.layer({ status, stop, reload, restart }, { port: 9998, token })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  handlers: Handlers,
  options: Options
): Layer.Layer<Web.WebAddress, Web.WebListenError | DashboardAssets.DashboardAssetsError> => {
  const api = HttpApiBuilder.api(AdminApi).pipe(
    Layer.provide(layerHandlers(handlers)),
    Layer.provide(layerAuthorization(options.token))
  )
  const token = secretOf(options.token)
  const source = options.dashboard
  // the limits, the 401 challenge and the safe headers wrap the API's app itself (a `serve`
  // middleware would see the response only after it was sent); /dashboard is its own app
  const serve = Layer.unwrapEffect(
    Effect.gen(function* () {
      const app = challenge(yield* HttpApiBuilder.httpApp)
      const dashboard =
        source === undefined
          ? undefined
          : yield* Effect.flatMap(DashboardAssets.load, (assets) =>
              DashboardRoutes.make(source, token, assets)
            )
      const routed = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        dashboard !== undefined && DashboardRoutes.isDashboard(request.url) ? dashboard : app
      )
      return HttpServer.serve(DashboardRoutes.secure(Web.edge(options)(routed)))
    })
  ).pipe(Layer.provide([HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer]))
  return serve.pipe(
    Layer.provide(api),
    Layer.provideMerge(Web.layerServer(options)),
    Layer.map(Context.pick(Web.WebAddress))
  )
}

/**
 * The admin client derived from {@link AdminApi}, sending `token` (when given) as the bearer
 * token. Answers are decoded with the same Schemas the master encodes with: a document that does
 * not match fails with a `ParseError`, an error answer with its typed error.
 *
 * ```ts
 * const admin = yield* AdminApi.client({ baseUrl: "http://127.0.0.1:9998", token: "..." })
 * const report = yield* admin.admin.status()
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const client = (options: {
  readonly baseUrl: string
  readonly token?: string | Redacted.Redacted<string> | undefined
}) =>
  HttpApiClient.make(AdminApi, {
    baseUrl: options.baseUrl,
    transformClient: (c) =>
      options.token === undefined ? c : HttpClient.mapRequest(c, HttpClientRequest.bearerToken(options.token))
  })

/**
 * The typed admin client: `client.admin.status()`, `client.admin.restart({ path: { node } })`, ...
 *
 * @since 0.1.0
 * @category models
 */
export type Client = Effect.Effect.Success<ReturnType<typeof client>>

const statusOfError: Record<string, number> = {
  Unauthorized: 401,
  UnknownNode: 404,
  RestartFailed: 503,
  ReloadRefused: 409,
  HttpApiDecodeError: 400
}

const rootCause = (error: unknown): string => {
  let current: unknown = error
  for (let depth = 0; depth < 5; depth++) {
    const next = (current as { cause?: unknown } | null)?.cause
    if (next === undefined || next === null) break
    current = next
  }
  const code = (current as { code?: unknown } | null)?.code
  return typeof code === "string" ? code : current instanceof Error ? current.message : String(current)
}

/**
 * One line saying why an admin client call failed: the typed error answer with its HTTP status
 * (`HTTP 404: no child named x`), an answer that does not match the admin API's
 * Schemas (with the first mismatches), no master listening, or no answer in time.
 *
 * @since 0.1.0
 * @category utils
 */
export const describeError = (error: unknown): string => {
  if (ParseResult.isParseError(error)) {
    const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
    const shown = issues
      .slice(0, 3)
      .map((i) => `${i.path.length === 0 ? "(root)" : i.path.join(".")}: ${i.message}`)
      .join("; ")
    return `the answer is not the admin API's document (is a hotaru master of this version listening there?): ${shown}${issues.length > 3 ? `; and ${issues.length - 3} more` : ""}`.replace(
      /\s*\n\s*/g,
      " "
    )
  }
  if (HttpClientError.isHttpClientError(error)) {
    if (error._tag === "RequestError") {
      return `cannot reach the master (is it running?): ${rootCause(error)}`
    }
    return `HTTP ${error.response.status}: unexpected answer (${error.reason})`
  }
  if (Cause.isTimeoutException(error)) return "no answer from the master in time"
  const tag = (error as { _tag?: unknown } | null)?._tag
  const message = (error as { message?: unknown } | null)?.message
  if (typeof tag === "string" && tag in statusOfError) {
    return `HTTP ${statusOfError[tag]}: ${typeof message === "string" ? message : tag}`.replace(
      /\s*\n\s*/g,
      " "
    )
  }
  return typeof message === "string" ? message : String(error)
}
