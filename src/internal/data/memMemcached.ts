/** The memcached `Mem` backend (memjs, binary protocol). */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { importOptional } from "../config/optionalPackage.js"
import { type Durability, MemError, type MemService, type SetOptions, ttlMillis } from "./mem.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface MemcachedOptions {
  /** firefly's `memcached.urls`, e.g. `["127.0.0.1:11211"]`. */
  readonly urls: ReadonlyArray<string>
  /** firefly's `memcached.hostname`: every key is prefixed `hostname:`. */
  readonly hostname: string
  /** `"accept-loss"`: the repository may use memcached (it evicts by design; default `"strict"`). */
  readonly durability?: Durability | undefined
}

/** memjs's binary-protocol core (not in its types): used for `cas`, which its API lacks. */
interface RawResponse {
  readonly header: { readonly status: number; readonly cas: Buffer }
  readonly val: Buffer
}
interface RawClient {
  seq: number
  incrSeq(): void
  perform(
    key: string,
    request: Buffer,
    seq: number,
    callback: (err: Error | null, response: RawResponse) => void
  ): void
}

/** A binary-protocol request (24-byte header, extras, key, value) with a `cas` value. */
const request = (
  opcode: number,
  key: string,
  extras: Buffer,
  value: Buffer,
  opaque: number,
  cas?: Buffer
) => {
  const k = Buffer.from(key)
  const buf = Buffer.alloc(24 + extras.length + k.length + value.length)
  buf.writeUInt8(0x80, 0)
  buf.writeUInt8(opcode, 1)
  buf.writeUInt16BE(k.length, 2)
  buf.writeUInt8(extras.length, 4)
  buf.writeUInt32BE(extras.length + k.length + value.length, 8)
  buf.writeUInt32BE(opaque, 12)
  cas?.copy(buf, 16)
  extras.copy(buf, 24)
  k.copy(buf, 24 + extras.length)
  value.copy(buf, 24 + extras.length + k.length)
  return buf
}

/** memcached reads an expiry above 30 days as an absolute unix time. */
const MAX_RELATIVE_SECONDS = 60 * 60 * 24 * 30

export const makeMemcached = (options: MemcachedOptions): Effect.Effect<MemService, MemError, Scope.Scope> =>
  Effect.gen(function* () {
    const prefix = options.hostname === "" ? "" : `${options.hostname}:`
    const where = options.urls.join(",")
    // memjs is an optional peer dependency: imported only when a node's config uses memcached
    const memjs = yield* importOptional("memjs", "the memcached mem backend", () => import("memjs")).pipe(
      Effect.mapError(
        (e) => new MemError({ reason: "Unavailable", backend: "memcached", message: e.message, cause: e })
      )
    )
    const client = yield* Effect.acquireRelease(
      Effect.sync(() =>
        memjs.Client.create(where, {
          retries: 1,
          timeout: 2,
          conntimeout: 2,
          keepAlive: true,
          expires: 0,
          logger: { log: () => {} }
        })
      ),
      (client) => Effect.sync(() => client.close())
    )
    const run = <A>(
      what: string,
      f: () => Promise<A>,
      reason: "Unavailable" | "CommandFailed" = "CommandFailed"
    ) =>
      Effect.tryPromise({
        try: f,
        catch: (cause) =>
          new MemError({
            reason,
            backend: "memcached",
            message: `memcached ${what} failed (${where}): ${String(cause)}`,
            cause
          })
      })
    // Fail the layer now, not at the first command, when memcached is not there.
    yield* run("version probe", () => client.get(`${prefix}__hotaru_probe`), "Unavailable")
    const k = (key: string) => prefix + key
    // memcached reads an expiry past 30 days as a Unix time (of its own clock, which ours should match)
    const clock = yield* Effect.clock
    const expires = (ms: number | undefined): number => {
      if (ms === undefined) return 0
      const seconds = Math.ceil(ms / 1000)
      return seconds > MAX_RELATIVE_SECONDS
        ? Math.floor(clock.unsafeCurrentTimeMillis() / 1000) + seconds
        : seconds
    }
    const expiresOf = (opts: SetOptions | undefined) => expires(ttlMillis(opts?.ttl))
    const get = (key: string) =>
      run("get", () => client.get(k(key))).pipe(
        Effect.map(({ value }) => Option.map(Option.fromNullable(value), (b) => b.toString("utf8")))
      )
    const set = (key: string, value: string, opts: SetOptions | undefined) =>
      run("set", () => client.set(k(key), value, { expires: expiresOf(opts) })).pipe(
        Effect.flatMap((ok) =>
          ok
            ? Effect.void
            : Effect.fail(
                new MemError({
                  reason: "CommandFailed",
                  backend: "memcached",
                  message: `memcached set of "${key}" was refused (value too large?)`
                })
              )
        )
      )
    const raw = client as unknown as RawClient
    const perform = (key: string, opcode: number, extras: Buffer, value: Buffer, cas?: Buffer) =>
      run(
        `opcode ${opcode}`,
        () =>
          new Promise<RawResponse>((resolve, reject) => {
            raw.incrSeq()
            raw.perform(key, request(opcode, key, extras, value, raw.seq, cas), raw.seq, (err, response) =>
              err ? reject(err) : resolve(response)
            )
          })
      )
    /** The value and cas of a key when it holds `value`, else `undefined` (opcode 0 = get). */
    const casOf = (key: string, value: string) =>
      Effect.map(perform(k(key), 0, Buffer.alloc(0), Buffer.alloc(0)), (r) =>
        r.header.status === 0 && r.val.toString("utf8") === value ? r.header.cas : undefined
      )
    const service: MemService = {
      backend: "memcached",
      prefix,
      durability: options.durability ?? "strict",
      checkDurability: Effect.succeed({
        setting: "driver",
        message: "memcached evicts keys under memory pressure and loses them on restart"
      }),
      // delete (opcode 4) with the cas read: fails (status 2, key exists) if the value changed
      deleteIf: (key, value) =>
        Effect.flatMap(casOf(key, value), (cas) =>
          cas === undefined
            ? Effect.succeed(false)
            : Effect.map(
                perform(k(key), 4, Buffer.alloc(0), Buffer.alloc(0), cas),
                (r) => r.header.status === 0
              )
        ),
      // set (opcode 1) of the same value with the new expiry and the cas read
      expireIf: (key, value, ttl) =>
        Effect.flatMap(casOf(key, value), (cas) => {
          if (cas === undefined) return Effect.succeed(false)
          const extras = Buffer.alloc(8)
          extras.writeUInt32BE(expires(ttlMillis(ttl)), 4)
          return Effect.map(perform(k(key), 1, extras, Buffer.from(value), cas), (r) => r.header.status === 0)
        }),
      get,
      getMany: (keys) => Effect.forEach(keys, get, { concurrency: 32 }),
      set,
      setMany: (entries, opts) =>
        Effect.forEach(entries, ([key, value]) => set(key, value, opts), { concurrency: 32, discard: true }),
      add: (key, value, opts) => run("add", () => client.add(k(key), value, { expires: expiresOf(opts) })),
      delete: (key) => run("delete", () => client.delete(k(key))),
      deleteMany: (keys) =>
        Effect.forEach(keys, (key) => run("delete", () => client.delete(k(key))), {
          concurrency: 32,
          discard: true
        }),
      incr: (key, by = 1) =>
        run("increment", () => client.increment(k(key), by, { initial: by })).pipe(
          Effect.flatMap(({ success, value }) =>
            success && typeof value === "number"
              ? Effect.succeed(value)
              : Effect.fail(
                  new MemError({
                    reason: "CommandFailed",
                    backend: "memcached",
                    message: `memcached increment of "${key}" failed (not a number?)`
                  })
                )
          )
        ),
      expire: (key, ttl) => run("touch", () => client.touch(k(key), expires(ttlMillis(ttl))))
    }
    return service
  })
