/** The Redis `Mem` backend (ioredis): one connection, commands pipelined by ioredis itself. */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { MemError, type MemService, type SetOptions, ttlMillis } from "./mem.js"
import { importOptional } from "./optionalPackage.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface RedisOptions {
  /** e.g. `redis://127.0.0.1:6379/0` */
  readonly url: string
  readonly prefix?: string | undefined
  /** How long to wait for the first connection (default 5 s). */
  readonly connectTimeoutMillis?: number | undefined
}

export const makeRedis = (options: RedisOptions): Effect.Effect<MemService, MemError, Scope.Scope> =>
  Effect.gen(function* () {
    const prefix = options.prefix ?? ""
    // ioredis is an optional peer dependency: imported only when a node's config uses Redis
    const { Redis } = yield* importOptional("ioredis", "the redis mem backend", () => import("ioredis")).pipe(
      Effect.mapError(
        (e) => new MemError({ reason: "Unavailable", backend: "redis", message: e.message, cause: e })
      )
    )
    const client = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const client = new Redis(options.url, {
            lazyConnect: true,
            connectTimeout: options.connectTimeoutMillis ?? 5_000,
            maxRetriesPerRequest: 2,
            retryStrategy: (times) => Math.min(times * 100, 2_000)
          })
          // ioredis emits "error" on every failed reconnect; commands report their own failures.
          client.on("error", () => {})
          try {
            await client.connect()
          } catch (error) {
            client.disconnect()
            throw error
          }
          return client
        },
        catch: (cause) =>
          new MemError({
            reason: "Unavailable",
            backend: "redis",
            message: `cannot connect to Redis at ${options.url}: ${String(cause)}`,
            cause
          })
      }),
      (client) => Effect.promise(() => client.quit().catch(() => client.disconnect()))
    )
    const run = <A>(what: string, f: () => Promise<A>) =>
      Effect.tryPromise({
        try: f,
        catch: (cause) =>
          new MemError({
            reason: "CommandFailed",
            backend: "redis",
            message: `Redis ${what} failed: ${String(cause)}`,
            cause
          })
      })
    const k = (key: string) => prefix + key
    const setArgs = (opts: SetOptions | undefined) => ttlMillis(opts?.ttl)
    const service: MemService = {
      backend: "redis",
      prefix,
      get: (key) => run("GET", () => client.get(k(key))).pipe(Effect.map(Option.fromNullable)),
      getMany: (keys) =>
        keys.length === 0
          ? Effect.succeed([])
          : run("MGET", () => client.mget(keys.map(k))).pipe(
              Effect.map((values) => values.map(Option.fromNullable))
            ),
      set: (key, value, opts) => {
        const ms = setArgs(opts)
        return run("SET", () =>
          ms === undefined ? client.set(k(key), value) : client.set(k(key), value, "PX", ms)
        ).pipe(Effect.asVoid)
      },
      setMany: (entries, opts) => {
        if (entries.length === 0) return Effect.void
        const ms = setArgs(opts)
        return run("MULTI SET", () => {
          const multi = client.multi()
          for (const [key, value] of entries) {
            if (ms === undefined) multi.set(k(key), value)
            else multi.set(k(key), value, "PX", ms)
          }
          return multi.exec()
        }).pipe(Effect.asVoid)
      },
      add: (key, value, opts) => {
        const ms = setArgs(opts)
        return run("SET NX", () =>
          ms === undefined ? client.set(k(key), value, "NX") : client.set(k(key), value, "PX", ms, "NX")
        ).pipe(Effect.map((reply) => reply === "OK"))
      },
      delete: (key) => run("DEL", () => client.del(k(key))).pipe(Effect.map((n) => n > 0)),
      deleteMany: (keys) =>
        keys.length === 0 ? Effect.void : run("DEL", () => client.del(...keys.map(k))).pipe(Effect.asVoid),
      incr: (key, by = 1) => run("INCRBY", () => client.incrby(k(key), by)),
      expire: (key, ttl) =>
        run("PEXPIRE", () => client.pexpire(k(key), ttlMillis(ttl) ?? 1)).pipe(Effect.map((n) => n === 1))
    }
    return service
  })
