/**
 * The HTTP machinery of the `web` capability (`src/Web.ts`): the `WebError` a handler fails with,
 * the route guards, Schema-checked input, the bounded body reader (413 before or while reading)
 * and the JSON responses.
 */
import { HttpIncomingMessage, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Context, Data, Effect, Option, ParseResult, Schema } from "effect"

/** The HTTP status a {@link WebError} reason stands for. */
const statusOf = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  PayloadTooLarge: 413,
  Internal: 500,
  Unavailable: 503
} as const

/**
 * An HTTP-level failure. Handlers fail with it to answer with its status and a JSON body
 * `{ "error": reason, "message": message }`.
 *
 * @since 0.1.0
 * @category errors
 */
export class WebError extends Data.TaggedError("WebError")<{
  readonly reason: keyof typeof statusOf
  readonly message: string
  /** Per-field problems of a bad input (sent as `issues`). */
  readonly issues?: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>
}> {
  /** The HTTP status of this error. */
  get status(): number {
    return statusOf[this.reason]
  }
}

export type Guard = (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<void, WebError>

/** The guards applying to the routes built under them (see {@link requireToken}). */
export class Guards extends Context.Tag("hotaru/Web/Guards")<Guards, ReadonlyArray<Guard>>() {}

export const badInput = (what: string, error: ParseResult.ParseError) =>
  new WebError({
    reason: "BadRequest",
    message: `invalid ${what}: ${ParseResult.TreeFormatter.formatErrorSync(error)}`,
    issues: ParseResult.ArrayFormatter.formatErrorSync(error).map((i) => ({
      path: i.path,
      message: i.message
    }))
  })

export const decode = (
  what: string,
  schema: Schema.Schema.AnyNoContext | undefined,
  value: Effect.Effect<unknown, WebError>
) =>
  schema === undefined
    ? Effect.succeed(undefined)
    : Effect.flatMap(value, (raw) =>
        Schema.decodeUnknown(schema, { errors: "all", onExcessProperty: "ignore" })(raw).pipe(
          Effect.mapError((e) => badInput(what, e))
        )
      )

export const tooLarge = new WebError({ reason: "PayloadTooLarge", message: "request body too large" })

/** Whether the request announces a body longer than `max` bytes. */
export const declaredTooLarge = (request: HttpServerRequest.HttpServerRequest, max: number): boolean => {
  const length = Number(request.headers["content-length"])
  return Number.isFinite(length) && length > max
}

/**
 * Reads the body of a Node request, at most `max` bytes. Past `max` the bytes are counted and
 * dropped (nothing more is kept) until the body ends, so the client can read a clean 413; a body
 * that goes on for another `max` (at least 64 KiB) gets its 413 at once and the connection is
 * closed after it. A body that never ends is cut by the server's `requestTimeout`.
 */
export const readLimited = (
  request: HttpServerRequest.HttpServerRequest,
  max: number
): Effect.Effect<Buffer, WebError> =>
  Effect.async<Buffer, WebError>((resume) => {
    const incoming = NodeHttpServerRequest.toIncomingMessage(request)
    const chunks: Array<Buffer> = []
    const drainCap = max + Math.max(max, 64 * 1024)
    let size = 0
    let done = false
    const finish = (result: Effect.Effect<Buffer, WebError>) => {
      if (done) return
      done = true
      cleanup()
      resume(result)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= max) chunks.push(chunk)
      else {
        chunks.length = 0
        if (size > drainCap) finish(Effect.fail(tooLarge))
      }
    }
    const onEnd = () =>
      finish(size > max ? Effect.fail(tooLarge) : Effect.succeed(Buffer.concat(chunks, size)))
    const onAbort = () =>
      finish(Effect.fail(new WebError({ reason: "BadRequest", message: "request body not complete" })))
    const cleanup = () => {
      incoming.off("data", onData)
      incoming.off("end", onEnd)
      incoming.off("error", onAbort)
      incoming.off("aborted", onAbort)
      incoming.off("close", onAbort)
    }
    if (incoming.readableEnded) {
      finish(Effect.succeed(Buffer.alloc(0)))
      return
    }
    incoming.on("data", onData)
    incoming.on("end", onEnd)
    incoming.on("error", onAbort)
    incoming.on("aborted", onAbort)
    incoming.on("close", onAbort)
    return Effect.sync(cleanup)
  })

export const readBody = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<unknown, WebError> =>
  Effect.flatMap(HttpIncomingMessage.MaxBodySize, (maxOption) => {
    const max = Option.match(maxOption, { onNone: () => 1024 * 1024, onSome: Number })
    // Refuse by the announced length before reading a byte.
    if (declaredTooLarge(request, max)) return Effect.fail(tooLarge)
    return Effect.flatMap(readLimited(request, max), (bytes) =>
      Effect.try({
        try: () => JSON.parse(bytes.toString("utf8")) as unknown,
        catch: () => new WebError({ reason: "BadRequest", message: "invalid body: not JSON" })
      })
    )
  })

export const errorResponse = (error: WebError) =>
  HttpServerResponse.unsafeJson(
    {
      error: error.reason,
      message: error.message,
      ...(error.issues === undefined ? {} : { issues: error.issues })
    },
    {
      status: error.status,
      ...(error.reason === "Unauthorized" ? { headers: { "www-authenticate": "Bearer" } } : {}),
      // the rest of a too-large body is not read: the connection ends after the answer
      ...(error.reason === "PayloadTooLarge" ? { headers: { connection: "close" } } : {})
    }
  )

export const internalError = HttpServerResponse.unsafeJson(
  { error: "Internal", message: "internal error" },
  { status: 500 }
)

export const toResponse = (result: unknown): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.isServerResponse(result)
    ? result
    : result === undefined
      ? HttpServerResponse.empty({ status: 204 })
      : HttpServerResponse.unsafeJson(result)
