/**
 * The `web` capability (firefly's `webport` / `@webserviceHandle('path')`): typed HTTP routes
 * served on a port.
 *
 * - A route is a `Layer`: app modules declare their own (`Web.get`, `Web.post`, ...) and the
 *   node merges them; `Web.layer({ port })` provides the router they register into and serves it.
 * - Input (`body`, `query`, `params`) is checked with `Schema`: bad input is a 400 with a JSON
 *   error; an unknown path (or method) is a 404 JSON error. A handler's result is sent as JSON
 *   (`undefined`: 204; an `HttpServerResponse`: as is).
 * - A handler may fail with {@link WebError} to choose the status; any other failure or defect is
 *   a 500 whose body says only "internal error" (the cause is logged).
 * - `Web.requireToken(token)` guards routes with a bearer token (401 without it).
 * - Limits (config block `http`, see {@link limitsOf}): a connection cap (`maxConnections`,
 *   default 256), header and request deadlines (`headersTimeout` 10 s, `requestTimeout` 30 s: a
 *   408 and the connection closed), and a body cap (`maxBodySize`, 1 MiB): a body announced
 *   larger is a 413 before it is read, on any route; a chunked one is counted as it arrives and
 *   answered 413 too (with `Connection: close`).
 * - A request that arrives while the port listens but the app is not attached yet (a moment at
 *   startup) is a 503 `Unavailable` with `retry-after: 1`, never left without an answer.
 *
 * ```ts
 * const Routes = Layer.mergeAll(
 *   Web.get("/status", () => Effect.succeed({ ok: true })),
 *   Web.post("/stop", { body: Schema.Struct({ node: Schema.String }) }, ({ body }) => stop(body.node)).pipe(Web.requireToken(token))
 * )
 * const WebLive = Routes.pipe(Layer.provideMerge(Web.layer({ port: 9998 })))
 * ```
 *
 * @since 0.1.0
 */

import {
  FileSystem,
  HttpIncomingMessage,
  HttpLayerRouter,
  type HttpRouter,
  HttpServer,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Data, Duration, Effect, Layer, Option, type Redacted, Schema } from "effect"
import type * as HotaruConfig from "./HotaruConfig.js"
import { reveal, secretOf } from "./internal/config/secret.js"
import {
  declaredTooLarge,
  decode,
  errorResponse,
  type Guard,
  Guards,
  internalError,
  readBody,
  tooLarge,
  toResponse,
  WebError
} from "./internal/web/http.js"
import { makeNodeServer } from "./internal/web/nodeServer.js"
import { sameText } from "./internal/wire/sameText.js"

export { WebError }

/**
 * The web server could not listen.
 *
 * @since 0.1.0
 * @category errors
 */
export class WebListenError extends Data.TaggedError("WebListenError")<{
  readonly reason: "ListenFailed"
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Where the web server listens (port 0 is resolved to the real port).
 *
 * @since 0.1.0
 * @category services
 */
export class WebAddress extends Context.Tag("hotaru/Web/WebAddress")<
  WebAddress,
  { readonly host: string; readonly port: number; readonly url: string }
>() {}

/**
 * The router routes register into (provided by {@link layer}).
 *
 * @since 0.1.0
 * @category utils
 */
export const Router = HttpLayerRouter.HttpRouter
export type Router = HttpLayerRouter.HttpRouter

/**
 * A route path (`/status`, `/users/:id`, `*`).
 *
 * @since 0.1.0
 * @category models
 */
export type Path = HttpLayerRouter.PathInput

/**
 * The Schemas checking a route's input; each is optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface RouteSchemas {
  readonly body?: Schema.Schema.AnyNoContext
  readonly query?: Schema.Schema.AnyNoContext
  readonly params?: Schema.Schema.AnyNoContext
}

/**
 * What a handler receives: the decoded input, and the raw request.
 *
 * @since 0.1.0
 * @category models
 */
export interface RouteInput<O extends RouteSchemas> {
  /** The decoded JSON body (`undefined` when the route declares no `body` schema). */
  readonly body: O extends { readonly body: infer S extends Schema.Schema.AnyNoContext }
    ? Schema.Schema.Type<S>
    : undefined
  /** The decoded query string (raw values when no `query` schema). */
  readonly query: O extends { readonly query: infer S extends Schema.Schema.AnyNoContext }
    ? Schema.Schema.Type<S>
    : Readonly<Record<string, string | ReadonlyArray<string>>>
  /** The decoded path parameters (raw values when no `params` schema). */
  readonly params: O extends { readonly params: infer S extends Schema.Schema.AnyNoContext }
    ? Schema.Schema.Type<S>
    : Readonly<Record<string, string | undefined>>
  readonly request: HttpServerRequest.HttpServerRequest
}

/**
 * A route handler; the request's `Scope`, `HttpServerRequest`, `ParsedSearchParams` and `RouteContext` are provided.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler<O extends RouteSchemas, A, E, R> = (input: RouteInput<O>) => Effect.Effect<A, E, R>

/**
 * A route registration: a layer needing the {@link Router} and the handler's services.
 *
 * @since 0.1.0
 * @category models
 */
export type Route<R> = Layer.Layer<never, never, Router | Exclude<R, HttpLayerRouter.Provided>>

/**
 * An HTTP method accepted by {@link route}.
 *
 * @since 0.1.0
 * @category models
 */
export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "*"

/**
 * Declares a route. The other constructors (`get`, `post`, ...) are shorthands for it.
 *
 * ```ts
 * const Echo = Web.route("POST", "/echo", { body: Schema.Struct({ text: Schema.String }) }, ({ body }) => Effect.succeed(body))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const route = <const O extends RouteSchemas, A, E, R>(
  method: Method,
  path: Path,
  schemas: O,
  handler: Handler<O, A, E, R>
): Route<R> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const router = yield* Router
      const guards = Option.getOrElse(yield* Effect.serviceOption(Guards), (): ReadonlyArray<Guard> => [])
      const context = yield* Effect.context<Exclude<R, HttpLayerRouter.Provided>>()
      const handle = Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        for (const guard of guards) yield* guard(request)
        const params = yield* HttpLayerRouter.params
        const searchParams = yield* HttpServerRequest.ParsedSearchParams
        const input = {
          body: yield* decode("body", schemas.body, readBody(request)),
          query:
            schemas.query === undefined
              ? searchParams
              : yield* decode("query", schemas.query, Effect.succeed(searchParams)),
          params:
            schemas.params === undefined
              ? params
              : yield* decode("params", schemas.params, Effect.succeed(params)),
          request
        } as RouteInput<O>
        const result: unknown = yield* handler(input)
        return toResponse(result)
      }).pipe(
        Effect.catchAll((error: unknown) =>
          error instanceof WebError
            ? Effect.succeed(errorResponse(error))
            : Effect.as(Effect.logError(`${method} ${path} failed`, error), internalError)
        ),
        Effect.catchAllDefect((defect) =>
          Effect.as(Effect.logError(`${method} ${path} died`, defect), internalError)
        )
      ) as Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpLayerRouter.Provided>
      // the services the route was built with, under the request's own
      const withServices = Effect.mapInputContext(
        handle,
        (request: Context.Context<HttpLayerRouter.Provided>) =>
          Context.merge(context as Context.Context<never>, request)
      )
      yield* router.add(method, path, withServices)
    })
  )

/**
 * A route constructor for one method: `(path, handler)` or `(path, schemas, handler)`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RouteConstructor {
  <A, E, R>(path: Path, handler: Handler<{}, A, E, R>): Route<R>
  <const O extends RouteSchemas, A, E, R>(path: Path, schemas: O, handler: Handler<O, A, E, R>): Route<R>
}

const forMethod =
  (method: Method): RouteConstructor =>
  <const O extends RouteSchemas, A, E, R>(
    path: Path,
    schemasOrHandler: O | Handler<{}, A, E, R>,
    handler?: Handler<O, A, E, R>
  ): Route<R> =>
    typeof schemasOrHandler === "function"
      ? route(method, path, {}, schemasOrHandler)
      : route(method, path, schemasOrHandler, handler!)

/**
 * `GET path`. `Web.get("/status", () => Effect.succeed({ ok: true }))`
 *
 * @since 0.1.0
 * @category utils
 */
export const get: RouteConstructor = forMethod("GET")
/**
 * `POST path`. `Web.post("/echo", { body: Schema.Struct({ text: Schema.String }) }, ({ body }) => Effect.succeed(body))`
 *
 * @since 0.1.0
 * @category utils
 */
export const post: RouteConstructor = forMethod("POST")
/**
 * `PUT path`.
 *
 * @since 0.1.0
 * @category utils
 */
export const put: RouteConstructor = forMethod("PUT")
/**
 * `PATCH path`.
 *
 * @since 0.1.0
 * @category utils
 */
export const patch: RouteConstructor = forMethod("PATCH")
/**
 * `DELETE path` (`delete` is a reserved word).
 *
 * @since 0.1.0
 * @category utils
 */
export const del: RouteConstructor = forMethod("DELETE")

/**
 * Guards every route built inside `self` (one route or several merged): a request without
 * `Authorization: Bearer <token>` gets a 401 before its input is even read. Guards nest (all
 * must pass). An empty token refuses every request.
 *
 * ```ts
 * const Admin = Layer.mergeAll(StopRoute, ReloadRoute).pipe(Web.requireToken(config.adminToken))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const requireToken =
  (secret: string | Redacted.Redacted<string>) =>
  <A, E, R>(self: Layer.Layer<A, E, R>): Layer.Layer<A, E, R> => {
    const token = secretOf(secret)
    const guard: Guard = (request) => {
      const header = request.headers.authorization ?? ""
      const match = /^Bearer\s+(.+)$/i.exec(header)
      return reveal(token) !== "" && match !== null && sameText(match[1]!.trim(), reveal(token))
        ? Effect.void
        : Effect.fail(
            new WebError({
              reason: "Unauthorized",
              message:
                match === null
                  ? "missing bearer token (Authorization: Bearer <token>)"
                  : "invalid bearer token"
            })
          )
    }
    const guards = Layer.effect(
      Guards,
      Effect.map(Effect.serviceOption(Guards), (outer) => [...Option.getOrElse(outer, () => []), guard])
    )
    return Layer.provide(self, guards)
  }

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebOptions {
  /** Interface to bind (default `127.0.0.1`). */
  readonly host?: string
  /** Port to bind; 0 picks a free one (see {@link WebAddress}). */
  readonly port: number
  /** Largest request body accepted, in bytes (default 1 MiB); larger gets a 413. */
  readonly maxBodySize?: number
  /** Open connections at once; connections past it are closed as they arrive (default 256). */
  readonly maxConnections?: number
  /** Time a client has to send the request headers; then a 408 and the connection closes (default 10 s). */
  readonly headersTimeout?: Duration.DurationInput
  /** Time a client has to send the whole request, body included (default 30 s). */
  readonly requestTimeout?: Duration.DurationInput
}

/**
 * The {@link WebOptions} limits a config `http` block sets (keys left out keep their defaults).
 *
 * ```ts
 * Web.layer({ host, port, ...Web.limitsOf(server.http) })
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const limitsOf = (
  http: HotaruConfig.HttpConfig | undefined
): Pick<WebOptions, "maxBodySize" | "maxConnections" | "headersTimeout" | "requestTimeout"> => ({
  ...(http?.maxBodyBytes === undefined ? {} : { maxBodySize: http.maxBodyBytes }),
  ...(http?.maxConnections === undefined ? {} : { maxConnections: http.maxConnections }),
  ...(http?.headersTimeout === undefined ? {} : { headersTimeout: Duration.seconds(http.headersTimeout) }),
  ...(http?.requestTimeout === undefined ? {} : { requestTimeout: Duration.seconds(http.requestTimeout) })
})

const notFound = (request: HttpServerRequest.HttpServerRequest) =>
  HttpServerResponse.unsafeJson(
    { error: "NotFound", message: `no route for ${request.method} ${request.url.split("?")[0]}` },
    { status: 404 }
  )

/**
 * The edge every hotaru HTTP app sits behind: a body announced larger than `maxBodySize` is a
 * 413 before routing (nothing of it is read), an unknown path a 404 JSON error, any other
 * failure a 500 "internal error" (logged); the app sees `maxBodySize` as its
 * `HttpIncomingMessage.MaxBodySize`. {@link layer} and the master's admin API use it. Wrap the
 * app itself (an `HttpServer.serve` middleware sees the response only after it was sent).
 *
 * ```ts
 * const served = Layer.unwrapEffect(Effect.map(HttpApiBuilder.httpApp, (app) => HttpServer.serve(Web.edge({ maxBodySize: 64 * 1024 })(app))))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const edge =
  (options: { readonly maxBodySize?: number }) =>
  <E, R>(
    app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | HttpServerRequest.HttpServerRequest> => {
    const maxBody = options.maxBodySize ?? 1024 * 1024
    const maxBodySize = FileSystem.Size(maxBody)
    return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      declaredTooLarge(request, maxBody) ? Effect.succeed(errorResponse(tooLarge)) : app
    ).pipe(
      Effect.catchAll((error: unknown) =>
        error instanceof HttpServerError.RouteNotFound
          ? Effect.succeed(notFound(error.request))
          : Effect.as(Effect.logError("web request failed", error), internalError)
      ),
      Effect.provideService(HttpIncomingMessage.MaxBodySize, Option.some(maxBodySize))
    )
  }

/**
 * A Node HTTP server on `host:port` with the limits of `options` (connection cap, header and
 * request deadlines), as the `HttpServer` an `HttpApp` or an `HttpApi` is served with, and its
 * bound {@link WebAddress}. {@link layer} serves routes with it; serve anything else behind
 * {@link edge}.
 *
 * ```ts
 * HttpServer.serve(Web.edge({})(myApp)).pipe(Layer.provideMerge(Web.layerServer({ port: 0 })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServer = (
  options: WebOptions
): Layer.Layer<
  HttpServer.HttpServer | WebAddress | HttpRouter.HttpRouter.DefaultServices,
  WebListenError
> => {
  const host = options.host ?? "127.0.0.1"
  const address = Layer.effect(
    WebAddress,
    Effect.map(HttpServer.HttpServer, (server) => {
      const address = server.address
      const bound =
        address._tag === "TcpAddress"
          ? { host: address.hostname, port: address.port }
          : { host, port: options.port }
      const urlHost = bound.host.includes(":") ? `[${bound.host}]` : bound.host
      return { ...bound, url: `http://${urlHost}:${bound.port}` }
    })
  )
  return address.pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => makeNodeServer(options), { host, port: options.port })),
    Layer.mapError(
      (cause) =>
        new WebListenError({
          reason: "ListenFailed",
          message: `cannot listen on ${host}:${options.port}: ${cause.cause instanceof Error ? cause.cause.message : String(cause.cause)}`,
          cause
        })
    )
  )
}

/**
 * Listens on `host:port` and serves every route registered into the {@link Router} it provides.
 * Requests that arrive before a route's layer is built get a 404.
 *
 * ```ts
 * const WebLive = Layer.mergeAll(StatusRoute, EchoRoute).pipe(Layer.provideMerge(Web.layer({ port: 0 })))
 * const { url } = yield* Web.WebAddress
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: WebOptions): Layer.Layer<Router | WebAddress, WebListenError> => {
  const serve = Layer.scoped(
    Router,
    Effect.gen(function* () {
      const router = yield* HttpLayerRouter.make
      yield* HttpServer.serveEffect(edge(options)(router.asHttpEffect()))
      return router
    })
  )
  return serve.pipe(Layer.provideMerge(layerServer(options)), Layer.map(Context.pick(Router, WebAddress)))
}
