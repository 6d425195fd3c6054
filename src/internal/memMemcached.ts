/** The memcached `Mem` backend (memjs, binary protocol). */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { MemError, type MemService, type SetOptions, ttlMillis } from "./mem.js"
import { importOptional } from "./optionalPackage.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface MemcachedOptions {
  /** firefly's `memcached.urls`, e.g. `["127.0.0.1:11211"]`. */
  readonly urls: ReadonlyArray<string>
  /** firefly's `memcached.hostname`: every key is prefixed `hostname:`. */
  readonly hostname: string
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
    const expires = (ms: number | undefined): number => {
      if (ms === undefined) return 0
      const seconds = Math.ceil(ms / 1000)
      return seconds > MAX_RELATIVE_SECONDS ? Math.floor(Date.now() / 1000) + seconds : seconds
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
    const service: MemService = {
      backend: "memcached",
      prefix,
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
