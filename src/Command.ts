/**
 * Typed client commands: a command is declared once, with its firefly command id, a body codec
 * and Schemas for its request and response. The same definition types the server handler
 * (`NetServer.handle`) and the client (`Client.call`).
 *
 * ```ts
 * const Echo  = Command.text(100, { name: "netHandle_100" })
 * const Login = Command.json(1, {
 *   request: Schema.Struct({ user: Schema.String }),
 *   response: Schema.Struct({ id: Schema.Number })
 * })
 * ```
 *
 * Body codecs: `text` (UTF-8, what firefly's demo client sends), `bytes` (raw), `json` (UTF-8
 * JSON), `msgpack`.
 *
 * @since 0.1.0
 */
import { Data, Either, ParseResult, Schema } from "effect"
import { Packr } from "msgpackr"

/**
 * How a frame body turns into the value a Schema decodes.
 *
 * @since 0.1.0
 * @category models
 */
export type BodyCodec = "text" | "bytes" | "json" | "msgpack"

/**
 * A body that could not be decoded or encoded.
 *
 * @since 0.1.0
 * @category errors
 */
export class BodyError extends Data.TaggedError("BodyError")<{
  readonly reason: "Decode" | "Encode"
  readonly command: number
  readonly detail: string
}> {
  override get message(): string {
    return `command ${this.command}: cannot ${this.reason === "Decode" ? "decode" : "encode"} body: ${this.detail}`
  }
}

/**
 * A declared command.
 *
 * @since 0.1.0
 * @category models
 */
export interface Command<Name extends string, Req, Res> {
  readonly _tag: "Command"
  readonly id: number
  readonly name: Name
  readonly codec: BodyCodec
  readonly request: Schema.Schema<Req, unknown>
  readonly response: Schema.Schema<Res, unknown>
  /** Bytes → request (server side). */
  readonly decodeRequest: (body: Uint8Array) => Either.Either<Req, BodyError>
  /** Request → bytes (client side). */
  readonly encodeRequest: (value: Req) => Either.Either<Uint8Array, BodyError>
  /** Response → bytes (server side). */
  readonly encodeResponse: (value: Res) => Either.Either<Uint8Array, BodyError>
  /** Bytes → response (client side). */
  readonly decodeResponse: (body: Uint8Array) => Either.Either<Res, BodyError>
}

/**
 * Any command.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any {
  readonly _tag: "Command"
  readonly id: number
  readonly name: string
  readonly codec: BodyCodec
  readonly decodeRequest: (body: Uint8Array) => Either.Either<unknown, BodyError>
  readonly encodeResponse: (value: never) => Either.Either<Uint8Array, BodyError>
}

/**
 * The request type of a command.
 *
 * @since 0.1.0
 * @category models
 */
export type Request<C> = C extends Command<string, infer Req, infer _Res> ? Req : never
/**
 * The response type of a command.
 *
 * @since 0.1.0
 * @category models
 */
export type Response<C> = C extends Command<string, infer _Req, infer Res> ? Res : never

interface RawCodec {
  readonly toValue: (body: Uint8Array) => unknown
  readonly fromValue: (value: unknown) => Uint8Array
}

const utf8 = new TextDecoder("utf-8")
const asBuffer = (b: Uint8Array) =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

const rawCodec = (codec: BodyCodec): RawCodec => {
  switch (codec) {
    case "text":
      return {
        toValue: (b) => utf8.decode(b),
        fromValue: (v) => Buffer.from(v as string, "utf8")
      }
    case "bytes":
      return { toValue: (b) => b, fromValue: (v) => v as Uint8Array }
    case "json":
      return {
        toValue: (b) => (b.length === 0 ? undefined : JSON.parse(utf8.decode(b))),
        fromValue: (v) => Buffer.from(v === undefined ? "" : JSON.stringify(v), "utf8")
      }
    case "msgpack": {
      const packr = new Packr({ useRecords: false, moreTypes: false })
      return {
        toValue: (b) => (b.length === 0 ? undefined : packr.unpack(asBuffer(b))),
        fromValue: (v) => packr.pack(v)
      }
    }
  }
}

const detail = (e: unknown): string =>
  ParseResult.isParseError(e)
    ? ParseResult.TreeFormatter.formatErrorSync(e)
    : e instanceof Error
      ? e.message
      : String(e)

const make = <Name extends string, Req, Res>(
  id: number,
  name: Name,
  codec: BodyCodec,
  request: Schema.Schema<Req, unknown>,
  response: Schema.Schema<Res, unknown>
): Command<Name, Req, Res> => {
  if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) {
    throw new RangeError(`command id must be an integer 0..4294967294, got ${id}`)
  }
  const raw = rawCodec(codec)
  const decodeReq = Schema.decodeUnknownEither(request)
  const encodeReq = Schema.encodeEither(request)
  const decodeRes = Schema.decodeUnknownEither(response)
  const encodeRes = Schema.encodeEither(response)
  const decoder =
    <A>(decode: (u: unknown) => Either.Either<A, ParseResult.ParseError>) =>
    (body: Uint8Array): Either.Either<A, BodyError> => {
      let value: unknown
      try {
        value = raw.toValue(body)
      } catch (e) {
        return Either.left(new BodyError({ reason: "Decode", command: id, detail: detail(e) }))
      }
      return Either.mapLeft(
        decode(value),
        (e) => new BodyError({ reason: "Decode", command: id, detail: detail(e) })
      )
    }
  const encoder =
    <A>(encode: (a: A) => Either.Either<unknown, ParseResult.ParseError>) =>
    (value: A): Either.Either<Uint8Array, BodyError> =>
      Either.flatMap(
        Either.mapLeft(
          encode(value),
          (e) => new BodyError({ reason: "Encode", command: id, detail: detail(e) })
        ),
        (encoded) => {
          try {
            return Either.right(raw.fromValue(encoded))
          } catch (e) {
            return Either.left(new BodyError({ reason: "Encode", command: id, detail: detail(e) }))
          }
        }
      )
  return {
    _tag: "Command",
    id,
    name,
    codec,
    request,
    response,
    decodeRequest: decoder(decodeReq),
    encodeRequest: encoder(encodeReq),
    encodeResponse: encoder(encodeRes),
    decodeResponse: decoder(decodeRes)
  }
}

interface Named<Name extends string> {
  /** Shown in logs (`call method NAME`); default `command_ID`. */
  readonly name?: Name
}

type DefaultName = `command_${number}`

/**
 * A UTF-8 text command; the Schemas (default `Schema.String`) decode from a string.
 *
 * @since 0.1.0
 * @category utils
 */
export const text = <Name extends string = DefaultName, Req = string, Res = string>(
  id: number,
  options?: Named<Name> & {
    readonly request?: Schema.Schema<Req, string>
    readonly response?: Schema.Schema<Res, string>
  }
): Command<Name, Req, Res> =>
  make(
    id,
    (options?.name ?? `command_${id}`) as Name,
    "text",
    (options?.request ?? Schema.String) as Schema.Schema<Req, unknown>,
    (options?.response ?? Schema.String) as Schema.Schema<Res, unknown>
  )

/**
 * A raw-bytes command: the handler sees the body as it came.
 *
 * @since 0.1.0
 * @category utils
 */
export const bytes = <Name extends string = DefaultName>(
  id: number,
  options?: Named<Name>
): Command<Name, Uint8Array, Uint8Array> =>
  make(
    id,
    (options?.name ?? `command_${id}`) as Name,
    "bytes",
    Schema.Uint8ArrayFromSelf as Schema.Schema<Uint8Array, unknown>,
    Schema.Uint8ArrayFromSelf as Schema.Schema<Uint8Array, unknown>
  )

const structured =
  (codec: "json" | "msgpack") =>
  <Name extends string = DefaultName, Req = unknown, ReqI = unknown, Res = unknown, ResI = unknown>(
    id: number,
    options: Named<Name> & {
      readonly request: Schema.Schema<Req, ReqI>
      readonly response: Schema.Schema<Res, ResI>
    }
  ): Command<Name, Req, Res> =>
    make(
      id,
      (options.name ?? `command_${id}`) as Name,
      codec,
      options.request as Schema.Schema<Req, unknown>,
      options.response as Schema.Schema<Res, unknown>
    )

/**
 * A JSON command: the body is UTF-8 JSON checked by the Schemas.
 *
 * @since 0.1.0
 * @category utils
 */
export const json = structured("json")

/**
 * A msgpack command: the body is msgpack checked by the Schemas.
 *
 * @since 0.1.0
 * @category utils
 */
export const msgpack = structured("msgpack")

/**
 * The command id of hotaru's error frame: the server answers it, in the failed request's place,
 * when a handler fails, a body does not decode, or a command is unknown. Its body is UTF-8 JSON,
 * see `ErrorBody`.
 *
 * @since 0.1.0
 * @category utils
 */
export const ERROR_COMMAND = 0xffffffff

/**
 * The body of an error frame: `{"command":100,"error":"UnknownCommand","message":"…"}`. `error`
 * is `UnknownCommand`, `BadRequest` (the body did not decode), `HandlerFailed` (with `tag` set
 * to the handler's typed error `_tag` when it has one), or `Defect`.
 *
 * @since 0.1.0
 * @category utils
 */
export const ErrorBody = Schema.Struct({
  command: Schema.Number,
  error: Schema.Literal("UnknownCommand", "BadRequest", "HandlerFailed", "Defect", "Overloaded"),
  message: Schema.String,
  tag: Schema.optionalWith(Schema.String, { exact: true })
})
export type ErrorBody = typeof ErrorBody.Type

/**
 * Decode the JSON value of an error frame body.
 *
 * @since 0.1.0
 * @category utils
 */
export const decodeErrorBody = Schema.decodeUnknownEither(ErrorBody)
