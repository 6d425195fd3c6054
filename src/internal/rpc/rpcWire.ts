/**
 * The wire format of node-to-node RPC: frames, channel keys, the compiled
 * codecs of one rpc, the ONE encoding of a failed call, and the headers a
 * handler sees. Pure functions and constants; no session state. The path of a
 * request through the modules is written down in `rpcSession.ts`.
 *
 * Frames (plain arrays, so msgpack stays small):
 *
 * | frame                           | meaning                                        |
 * |---------------------------------|------------------------------------------------|
 * | `[0, key, FromClientEncoded]`   | a request (etc.) for the receiver's server     |
 * | `[1, key, FromServerEncoded]`   | a response for the receiver's client           |
 * | `[2]` / `[3]`                   | ping / pong                                    |
 * | `[4, …]` `[5, …]` `[6, …]`      | hello, welcome, refused: see `handshake.ts`    |
 * | `[11, …]` `[12, …]`             | challenge, proof: see `handshake.ts`           |
 * | `[7, key, id, tag, payload, h?, t?]`| fast call (`id` 0: no reply wanted; `h` = flat |
 * |                                 | `[name, value, …]` extra headers or null; `t` = |
 * |                                 | the caller's span `[traceId, spanId, sampled]`, |
 * |                                 | sent only by a tracing node: `observe/tracing`) |
 * | `[8, id, success]`              | fast reply: the encoded success value           |
 * | `[9, id, exit]`                 | fast reply: the encoded failed `Exit`           |
 * | `[10, id]`                      | the caller of fast call `id` gave up (interrupt)|
 *
 * Fast frames (7–10) carry every rpc that is neither a stream nor has
 * middleware; the others take frames 0/1: a stock `RpcServer` / `RpcClient`
 * over the same link. Both carry a failed call the same way: an encoded
 * `Exit` (`encodedDie` for failures of the machinery itself), and both give a
 * handler the same headers (`trustedHeaders`).
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as Rpc from "@effect/rpc/Rpc"
import type * as RpcGroup from "@effect/rpc/RpcGroup"
import * as RpcSchema from "@effect/rpc/RpcSchema"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import type * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

export const F_REQUEST = 0
export const F_RESPONSE = 1
export const F_PING = 2
export const F_PONG = 3
export const F_CALL = 7
export const F_SUCCESS = 8
export const F_FAILURE = 9
export const F_CANCEL = 10

export const PING: ReadonlyArray<number> = [F_PING]
export const PONG: ReadonlyArray<number> = [F_PONG]

/** Heartbeat settings. */
export interface Heartbeat {
  readonly interval: Duration.Duration
  readonly timeout: Duration.Duration
}

export const resolveHeartbeat = (options?: {
  readonly interval?: Duration.DurationInput | undefined
  readonly timeout?: Duration.DurationInput | undefined
}): Heartbeat => ({
  interval: Duration.decode(options?.interval ?? "2 seconds"),
  timeout: Duration.decode(options?.timeout ?? "6 seconds")
})

// ---------------------------------------------------------------------------
// Channel keys
// ---------------------------------------------------------------------------

export interface GroupKey {
  readonly key: number
  readonly label: string
}

/** Deterministic key of a group: FNV-1a of its sorted rpc tags. Compute once per use site. */
export const channelKey = <Rpcs extends Rpc.Any>(group: RpcGroup.RpcGroup<Rpcs>): GroupKey => {
  const label = [...group.requests.keys()].sort().join(",")
  let hash = 0x811c9dc5
  for (let i = 0; i < label.length; i++) {
    hash ^= label.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return { key: hash, label }
}

// ---------------------------------------------------------------------------
// Failures: the one encoding
// ---------------------------------------------------------------------------

/** An encoded `Exit.die(message)`: every `Rpc.exitSchema` decodes it. */
export const encodedDie = (message: string) =>
  ({ _tag: "Failure", cause: { _tag: "Die", defect: message } }) as const

/** Where the answer to a failed call goes: a fast call's id, or a stock request on channel `key`. */
export type ReplyTo =
  | { readonly _tag: "Fast"; readonly id: number }
  | { readonly _tag: "Stock"; readonly key: number; readonly requestId: string }

/** The frame failing the call `to` with the defect `message`. */
export const dieFrame = (to: ReplyTo, message: string): ReadonlyArray<unknown> =>
  to._tag === "Fast"
    ? [F_FAILURE, to.id, encodedDie(message)]
    : [F_RESPONSE, to.key, { _tag: "Exit", requestId: to.requestId, exit: encodedDie(message) }]

/** The defect text of a call nobody serves. */
export const notServed = (node: string, tag: string, peer: string): string =>
  `hotaru: node "${node}" does not serve "${tag}" to "${peer}"`

// ---------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------

/**
 * The request header carrying the calling node's name. The receiving side
 * sets it from the authenticated session; a header of that name sent by the
 * peer is dropped.
 */
export const callerHeader = "hotaru-caller"

/**
 * The name of the master on its links. Its calls and the calls to it (admin: status and metrics
 * every second) are the control plane: never traced.
 */
export const masterName = "master"

/** Whether a peer-sent header name must be dropped (the caller's, or one that would touch a prototype). */
const reservedHeader = (name: string): boolean => name === "__proto__" || name.toLowerCase() === callerHeader

/**
 * The headers a handler sees, on either path: the peer's `[name, value]`
 * pairs in order, names lower-cased as `Headers` keeps them (non-strings and
 * reserved names dropped, a later duplicate wins), then the caller's name
 * from the authenticated session (always last, so always the session's).
 */
export const trustedHeaders = (
  pairs: Iterable<readonly [unknown, unknown]>,
  peerName: string
): Headers.Headers => {
  const record: Record<string, string> = {}
  for (const [name, value] of pairs) {
    if (typeof name !== "string" || typeof value !== "string" || reservedHeader(name)) continue
    record[name.toLowerCase()] = value
  }
  record[callerHeader] = peerName
  return Headers.unsafeFromRecord(record)
}

/** `[name, value]` pairs of a flat `[name, value, name, value, …]` list (the fast frames' form). */
export function* flatPairs(flat: ReadonlyArray<unknown>): Iterable<readonly [unknown, unknown]> {
  for (let i = 0; i + 1 < flat.length; i += 2) yield [flat[i], flat[i + 1]]
}

/** `[name, value]` pairs of the stock frames' header list (anything else is skipped). */
export function* listPairs(list: unknown): Iterable<readonly [unknown, unknown]> {
  if (!Array.isArray(list)) return
  for (const entry of list) if (Array.isArray(entry)) yield [entry[0], entry[1]]
}

/**
 * The flat header list a fast call sends: the fiber's `RpcClient.withHeaders`
 * headers, then the call's own (which win), as the stock `RpcClient` merges
 * them. Undefined when there are none.
 */
export const callHeaders = (
  inherited: Headers.Headers,
  given: Headers.Input | undefined
): Array<string> | undefined => {
  if (inherited === Headers.empty && given === undefined) return undefined
  const merged = given === undefined ? inherited : Headers.merge(inherited, Headers.fromInput(given))
  const flat: Array<string> = []
  for (const name of Object.keys(merged)) flat.push(name, merged[name]!)
  return flat.length === 0 ? undefined : flat
}

// ---------------------------------------------------------------------------
// Codecs
// ---------------------------------------------------------------------------

type Encoded = Either.Either<unknown, ParseResult.ParseIssue>

/** An rpc with its schemas in view (every `Rpc.make` value is one). */
export type RpcWithProps = Rpc.Any & Rpc.AnyWithProps

const hasProps = (rpc: Rpc.Any): rpc is RpcWithProps => "payloadSchema" in rpc && "middlewares" in rpc

/** Every rpc of `group`, with its schemas in view. */
export const rpcsOf = <Rpcs extends Rpc.Any>(group: RpcGroup.RpcGroup<Rpcs>): ReadonlyArray<RpcWithProps> => {
  const rpcs: Array<RpcWithProps> = []
  for (const rpc of group.requests.values()) {
    if (!hasProps(rpc)) throw new Error(`hotaru: "${rpc._tag}" is not an rpc made by Rpc.make`)
    rpcs.push(rpc)
  }
  return rpcs
}

/** Whether `rpc` can take the fast frames (no stream, no middleware). */
export const isFast = (rpc: Rpc.AnyWithProps): boolean =>
  !RpcSchema.isStreamSchema(rpc.successSchema) && rpc.middlewares.size === 0

/** Synchronous codecs of one rpc, compiled once per node (`Codecs`). */
export interface Codec {
  readonly tag: string
  readonly encodePayload: (u: unknown) => Encoded
  readonly decodePayload: (u: unknown) => Encoded
  readonly encodeSuccess: (u: unknown) => Encoded
  readonly decodeSuccess: (u: unknown) => Encoded
  readonly encodeExit: (u: unknown) => Encoded
  readonly decodeExit: (u: unknown) => Encoded
}

/**
 * The schema of `ast` run without context. The fast path codes synchronously
 * and outside any fiber, so a schema that needs a context service (rare in
 * rpc definitions) cannot take it: its rpc fails with a defect naming it.
 */
const contextFree = (schema: Schema.Schema.All): Schema.Schema<unknown, unknown> => Schema.make(schema.ast)

const compile = (rpc: RpcWithProps): Codec => {
  const payload = contextFree(rpc.payloadSchema)
  const success = contextFree(rpc.successSchema)
  const exit = contextFree(Rpc.exitSchema(rpc))
  return {
    tag: rpc._tag,
    encodePayload: ParseResult.encodeUnknownEither(payload),
    decodePayload: ParseResult.decodeUnknownEither(payload),
    encodeSuccess: ParseResult.encodeUnknownEither(success),
    decodeSuccess: ParseResult.decodeUnknownEither(success),
    encodeExit: ParseResult.encodeUnknownEither(exit),
    decodeExit: ParseResult.decodeUnknownEither(exit)
  }
}

/** The codecs of one node (an `Endpoint`): each rpc's compiled once, for its clients and servers alike. */
export class Codecs {
  private readonly compiled = new WeakMap<RpcWithProps, Codec>()
  of(rpc: RpcWithProps): Codec {
    let codec = this.compiled.get(rpc)
    if (codec === undefined) {
      codec = compile(rpc)
      this.compiled.set(rpc, codec)
    }
    return codec
  }
}

/** The reply frame of fast call `id` that ended with `exit` (a failure to encode is a defect). */
export const replyFrame = (
  id: number,
  codec: Codec,
  exit: Exit.Exit<unknown, unknown>
): ReadonlyArray<unknown> => {
  if (exit._tag === "Success") {
    const encoded = codec.encodeSuccess(exit.value)
    if (encoded._tag === "Right") return [F_SUCCESS, id, encoded.right]
    const issue = ParseResult.TreeFormatter.formatIssueSync(encoded.left)
    return dieFrame({ _tag: "Fast", id }, `hotaru: cannot encode the reply of "${codec.tag}": ${issue}`)
  }
  const encoded = codec.encodeExit(exit)
  return encoded._tag === "Right"
    ? [F_FAILURE, id, encoded.right]
    : dieFrame({ _tag: "Fast", id }, Cause.pretty(exit.cause))
}

/**
 * The caller's `Exit` of a fast reply (`success`: frame 8, else 9). A handler
 * interrupted there (that node shuts down mid-call) is `lost()`.
 */
export const replyExit = <E>(
  codec: Codec,
  success: boolean,
  value: unknown,
  lost: () => E
): Exit.Exit<unknown, unknown> => {
  if (success) {
    const decoded = codec.decodeSuccess(value)
    return decoded._tag === "Right"
      ? Exit.succeed(decoded.right)
      : Exit.die(ParseResult.parseError(decoded.left))
  }
  const decoded = codec.decodeExit(value)
  if (decoded._tag === "Left") return Exit.die(ParseResult.parseError(decoded.left))
  const exit = decoded.right
  if (!Exit.isExit(exit)) return Exit.die(`hotaru: the reply of "${codec.tag}" is not an Exit`)
  return Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? Exit.fail(lost()) : exit
}
