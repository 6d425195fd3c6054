/**
 * Typed client commands: a command is declared once, with its firefly command id, a body codec
 * and Schemas for its request and response. The same definition types the server handler
 * (`NetServer.handle`) and the client (`Client.call`).
 *
 * ```ts
 * const Echo  = NetCommand.text(100, { name: "netHandle_100" })
 * class RoomFull extends Schema.TaggedError<RoomFull>()("RoomFull", { room: Schema.String }) {}
 * const Join = NetCommand.json(1, {
 *   name: "join",
 *   request: Schema.Struct({ room: Schema.String }),
 *   response: Schema.Struct({ seat: Schema.Number }),
 *   error: RoomFull // optional: the typed failures a client may receive
 * })
 * ```
 *
 * A command's `error` Schema (usually `Schema.TaggedError`s, or a `Schema.Union` of them) types
 * its handler's failures (`NetServer.handle` accepts no other, but `NetServer.Undeclared`) and
 * travels in the error frame's `value`, encoded as JSON, so `Client.call` fails with the decoded
 * error (`Effect.catchTag("RoomFull", …)`). A command without one answers failures as firefly-
 * compatible error frames without `value` (`Client.CommandFailed` on the client).
 *
 * Body codecs: `text` (UTF-8, what firefly's demo client sends), `bytes` (raw), `json` (UTF-8
 * JSON), `msgpack`.
 *
 * @since 0.1.0
 */
import { Data, Either, Option, ParseResult, Schema } from "effect"
import { Packr } from "msgpackr"
import * as BodyGuard from "./internal/edge/bodyGuard.js"
import { SYSTEM_COMMANDS } from "./internal/edge/frame.js"

/**
 * How a frame body turns into the value a Schema decodes.
 *
 * @since 0.1.0
 * @category models
 */
export type BodyCodec = "text" | "bytes" | "json" | "msgpack"

/**
 * A body that could not be decoded or encoded. `problem` says what was wrong with a decoded body:
 * `Depth` (nested deeper than allowed), `Syntax` (not valid JSON / msgpack, or a msgpack
 * extension that is not accepted) or `Schema` (the value does not match the Schema).
 *
 * @since 0.1.0
 * @category errors
 */
export class BodyError extends Data.TaggedError("BodyError")<{
  readonly reason: "Decode" | "Encode"
  readonly command: number
  readonly detail: string
  readonly problem?: "Depth" | "Syntax" | "Schema"
}> {
  override get message(): string {
    return `command ${this.command}: cannot ${this.reason === "Decode" ? "decode" : "encode"} body: ${this.detail}`
  }
}

/**
 * The nesting depth accepted in a JSON or msgpack body by default.
 *
 * @since 0.1.0
 * @category utils
 */
export const DEFAULT_MAX_DEPTH = BodyGuard.DEFAULT_MAX_DEPTH

/**
 * Limits of decoding a body that came from outside.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodeOptions {
  /** Deepest nesting of arrays/objects accepted in a JSON or msgpack body (default 64). */
  readonly maxDepth?: number
}

/**
 * A declared command; `Err` is what its handler may fail with, for the client to receive typed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Command<Name extends string, Req, Res, Err = never> {
  readonly _tag: "Command"
  readonly id: number
  readonly name: Name
  readonly codec: BodyCodec
  readonly request: Schema.Schema<Req, unknown>
  readonly response: Schema.Schema<Res, unknown>
  /**
   * The typed failures of the handler (`Err`), sent in the error frame's `value`; none by
   * default. Typed loosely so a command is covariant in `Err` (commands that declare different
   * errors fit in one list); `decodeError` carries the type.
   */
  readonly error: Schema.Schema.AnyNoContext | undefined
  /** Bytes → request (server side). Never throws. */
  readonly decodeRequest: (body: Uint8Array, options?: DecodeOptions) => Either.Either<Req, BodyError>
  /** Request → bytes (client side). */
  readonly encodeRequest: (value: Req) => Either.Either<Uint8Array, BodyError>
  /** Response → bytes (server side). */
  readonly encodeResponse: (value: Res) => Either.Either<Uint8Array, BodyError>
  /** Bytes → response (client side). Never throws. */
  readonly decodeResponse: (body: Uint8Array, options?: DecodeOptions) => Either.Either<Res, BodyError>
  /**
   * A handler's failure → the JSON value of the error frame's `value` (server side); `None` when
   * the command declares no error or the failure is not one it declares. Never throws.
   */
  readonly encodeError: (failure: unknown) => Option.Option<unknown>
  /** The JSON value of an error frame's `value` → the declared error (client side). Never throws. */
  readonly decodeError: (value: unknown) => Either.Either<Err, BodyError>
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
  readonly decodeRequest: (body: Uint8Array, options?: DecodeOptions) => Either.Either<unknown, BodyError>
  readonly encodeResponse: (value: never) => Either.Either<Uint8Array, BodyError>
  readonly encodeError: (failure: unknown) => Option.Option<unknown>
}

/**
 * The request type of a command.
 *
 * @since 0.1.0
 * @category models
 */
export type Request<C> = C extends Command<string, infer Req, infer _Res, infer _Err> ? Req : never
/**
 * The response type of a command.
 *
 * @since 0.1.0
 * @category models
 */
export type Response<C> = C extends Command<string, infer _Req, infer Res, infer _Err> ? Res : never
/**
 * The declared error type of a command (`never` when it declares none).
 *
 * @since 0.1.0
 * @category models
 */
export type Failure<C> = C extends Command<string, infer _Req, infer _Res, infer Err> ? Err : never

interface RawCodec {
  /** Bytes → value, or the reason the body is refused before a recursive decoder sees it. */
  readonly toValue: (body: Uint8Array, maxDepth: number) => unknown
  readonly fromValue: (value: unknown) => Uint8Array
}

/** Thrown by `toValue` for a body refused by its pre-check (caught in `decoder`). */
class Refused {
  constructor(
    readonly problem: "Depth" | "Syntax",
    readonly detail: string
  ) {}
}

const utf8 = new TextDecoder("utf-8")
/** Node's `Buffer` where there is one (the server's fast path); a browser has none. */
const NodeBuffer = (globalThis as { readonly Buffer?: typeof Buffer }).Buffer
const utf8Encoder = new TextEncoder()
const utf8Bytes: (text: string) => Uint8Array =
  NodeBuffer === undefined ? (text) => utf8Encoder.encode(text) : (text) => NodeBuffer.from(text, "utf8")
const asBuffer = (b: Uint8Array): Uint8Array =>
  NodeBuffer === undefined || NodeBuffer.isBuffer(b)
    ? b
    : NodeBuffer.from(b.buffer, b.byteOffset, b.byteLength)

const rawCodec = (codec: BodyCodec): RawCodec => {
  switch (codec) {
    case "text":
      return {
        toValue: (b) => utf8.decode(b),
        fromValue: (v) => utf8Bytes(v as string)
      }
    case "bytes":
      return { toValue: (b) => b, fromValue: (v) => v as Uint8Array }
    case "json":
      return {
        toValue: (b, maxDepth) => {
          if (b.length === 0) return undefined
          if (BodyGuard.jsonTooDeep(b, maxDepth))
            throw new Refused("Depth", `JSON nested deeper than ${maxDepth}`)
          return JSON.parse(utf8.decode(b))
        },
        fromValue: (v) => utf8Bytes(v === undefined ? "" : JSON.stringify(v))
      }
    case "msgpack": {
      // no records, structures, shared references or bundled strings (see BodyGuard.msgpackProblem)
      const packr = new Packr({
        useRecords: false,
        moreTypes: false,
        structuredClone: false,
        bundleStrings: false
      })
      let stack = new Float64Array(BodyGuard.DEFAULT_MAX_DEPTH)
      return {
        toValue: (b, maxDepth) => {
          if (b.length === 0) return undefined
          if (stack.length < maxDepth) stack = new Float64Array(maxDepth)
          const problem = BodyGuard.msgpackProblem(b, maxDepth, stack)
          if (problem !== undefined) throw new Refused(problem.kind, problem.detail)
          return packr.unpack(asBuffer(b))
        },
        fromValue: (v) => packr.pack(v)
      }
    }
  }
}

/** Longest detail kept in a `BodyError` (Schema messages quote the value they got). */
const MAX_DETAIL = 500

/** A short description of a decode/encode failure; never throws (formatting a hostile value may). */
const detail = (e: unknown): string => {
  let text: string
  try {
    text = ParseResult.isParseError(e)
      ? ParseResult.TreeFormatter.formatErrorSync(e)
      : e instanceof Error
        ? e.message
        : String(e)
  } catch {
    text = "the value could not be described"
  }
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}…` : text
}

const make = <Name extends string, Req, Res, Err>(
  id: number,
  name: Name,
  codec: BodyCodec,
  request: Schema.Schema<Req, unknown>,
  response: Schema.Schema<Res, unknown>,
  error: Schema.Schema<Err, unknown> | undefined
): Command<Name, Req, Res, Err> => {
  if (!Number.isInteger(id) || id < 0 || id >= SYSTEM_COMMANDS) {
    throw new RangeError(`command id must be an integer 0..4294967279 (above: system frames), got ${id}`)
  }
  const raw = rawCodec(codec)
  const decodeReq = Schema.decodeUnknownEither(request)
  const encodeReq = Schema.encodeEither(request)
  const decodeRes = Schema.decodeUnknownEither(response)
  const encodeRes = Schema.encodeEither(response)
  const decoder =
    <A>(decode: (u: unknown) => Either.Either<A, ParseResult.ParseError>) =>
    (body: Uint8Array, options?: DecodeOptions): Either.Either<A, BodyError> => {
      let value: unknown
      try {
        value = raw.toValue(body, options?.maxDepth ?? DEFAULT_MAX_DEPTH)
      } catch (e) {
        return Either.left(
          e instanceof Refused
            ? new BodyError({ reason: "Decode", command: id, detail: e.detail, problem: e.problem })
            : new BodyError({ reason: "Decode", command: id, detail: detail(e), problem: "Syntax" })
        )
      }
      let decoded: Either.Either<A, ParseResult.ParseError>
      try {
        decoded = decode(value)
      } catch (e) {
        return Either.left(
          new BodyError({ reason: "Decode", command: id, detail: detail(e), problem: "Schema" })
        )
      }
      return Either.mapLeft(
        decoded,
        (e) => new BodyError({ reason: "Decode", command: id, detail: detail(e), problem: "Schema" })
      )
    }
  const encoder =
    <A>(encode: (a: A) => Either.Either<unknown, ParseResult.ParseError>) =>
    (value: A): Either.Either<Uint8Array, BodyError> => {
      try {
        const encoded = encode(value)
        if (Either.isLeft(encoded)) {
          return Either.left(new BodyError({ reason: "Encode", command: id, detail: detail(encoded.left) }))
        }
        return Either.right(raw.fromValue(encoded.right))
      } catch (e) {
        return Either.left(new BodyError({ reason: "Encode", command: id, detail: detail(e) }))
      }
    }
  const encodeErr = error === undefined ? undefined : Schema.encodeUnknownEither(error)
  const decodeErr = error === undefined ? undefined : Schema.decodeUnknownEither(error)
  return {
    _tag: "Command",
    id,
    name,
    codec,
    request,
    response,
    error,
    decodeRequest: decoder(decodeReq),
    encodeRequest: encoder(encodeReq),
    encodeResponse: encoder(encodeRes),
    decodeResponse: decoder(decodeRes),
    encodeError: (failure) => {
      if (encodeErr === undefined) return Option.none()
      try {
        const encoded = encodeErr(failure)
        if (Either.isLeft(encoded)) return Option.none()
        // the value travels as JSON: what JSON cannot carry (bigint, cycles) is not sent, nor a
        // value nested deeper than a client accepts in the error frame (the value is one level in)
        const text = JSON.stringify(encoded.right)
        if (BodyGuard.jsonTooDeep(utf8Bytes(text), DEFAULT_MAX_DEPTH - 1)) return Option.none()
        return Option.some(JSON.parse(text) as unknown)
      } catch {
        return Option.none()
      }
    },
    decodeError: (value) => {
      const fail = (problem: "Schema", text: string) =>
        Either.left(new BodyError({ reason: "Decode", command: id, detail: `error value: ${text}`, problem }))
      if (decodeErr === undefined) return fail("Schema", `command ${name} declares no error`)
      try {
        return Either.mapLeft(
          decodeErr(value),
          (e) =>
            new BodyError({
              reason: "Decode",
              command: id,
              detail: `error value: ${detail(e)}`,
              problem: "Schema"
            })
        )
      } catch (e) {
        return fail("Schema", detail(e))
      }
    }
  }
}

/**
 * The options every command constructor takes: its `name` and its `error` Schema.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommonOptions<Name extends string, Err, ErrI> {
  /** Shown in logs (`call method NAME`) and the key of its handler in a `CommandGroup`; default `command_ID`. */
  readonly name?: Name
  /**
   * What its handler may fail with, sent to the client typed (usually `Schema.TaggedError`s or
   * a `Schema.Union` of them). It is carried as JSON whatever the body codec.
   */
  readonly error?: Schema.Schema<Err, ErrI>
}

/**
 * A UTF-8 text command; the Schemas (default `Schema.String`) decode from a string.
 *
 * @since 0.1.0
 * @category utils
 */
export const text = <
  const Id extends number,
  Name extends string = `command_${Id}`,
  Req = string,
  Res = string,
  Err = never,
  ErrI = never
>(
  id: Id,
  options?: CommonOptions<Name, Err, ErrI> & {
    readonly request?: Schema.Schema<Req, string>
    readonly response?: Schema.Schema<Res, string>
  }
): Command<Name, Req, Res, Err> =>
  make(
    id,
    (options?.name ?? `command_${id}`) as Name,
    "text",
    (options?.request ?? Schema.String) as Schema.Schema<Req, unknown>,
    (options?.response ?? Schema.String) as Schema.Schema<Res, unknown>,
    options?.error as Schema.Schema<Err, unknown> | undefined
  )

/**
 * A raw-bytes command: the handler sees the body as it came.
 *
 * @since 0.1.0
 * @category utils
 */
export const bytes = <
  const Id extends number,
  Name extends string = `command_${Id}`,
  Err = never,
  ErrI = never
>(
  id: Id,
  options?: CommonOptions<Name, Err, ErrI>
): Command<Name, Uint8Array, Uint8Array, Err> =>
  make(
    id,
    (options?.name ?? `command_${id}`) as Name,
    "bytes",
    Schema.Uint8ArrayFromSelf as Schema.Schema<Uint8Array, unknown>,
    Schema.Uint8ArrayFromSelf as Schema.Schema<Uint8Array, unknown>,
    options?.error as Schema.Schema<Err, unknown> | undefined
  )

const structured =
  (codec: "json" | "msgpack") =>
  <
    const Id extends number,
    Name extends string = `command_${Id}`,
    Req = unknown,
    ReqI = unknown,
    Res = unknown,
    ResI = unknown,
    Err = never,
    ErrI = never
  >(
    id: Id,
    options: CommonOptions<Name, Err, ErrI> & {
      readonly request: Schema.Schema<Req, ReqI>
      readonly response: Schema.Schema<Res, ResI>
    }
  ): Command<Name, Req, Res, Err> =>
    make(
      id,
      (options.name ?? `command_${id}`) as Name,
      codec,
      options.request as Schema.Schema<Req, unknown>,
      options.response as Schema.Schema<Res, unknown>,
      options.error as Schema.Schema<Err, unknown> | undefined
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

export { decodeErrorBody, ErrorBody } from "./internal/edge/errorBody.js"
export { ERROR_COMMAND, RESUME_COMMAND, SESSION_COMMAND, SYSTEM_COMMANDS } from "./internal/edge/frame.js"
