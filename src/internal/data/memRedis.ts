/** The Redis `Mem` backend (ioredis): one connection, commands pipelined by ioredis itself. */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { importOptional } from "../config/optionalPackage.js"
import {
  type Durability,
  type DurabilityProblem,
  MemError,
  type MemService,
  type SetOptions,
  ttlMillis
} from "./mem.js"

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
  /** `"accept-loss"`: the repository may use a Redis that can lose writes (default `"strict"`). */
  readonly durability?: Durability | undefined
}

const DELETE_IF = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`
const EXPIRE_IF = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`

/** What a Redis server's settings mean for acknowledged writes (`CONFIG GET` replies). */
export const redisDurability = (config: ReadonlyMap<string, string>): DurabilityProblem | undefined => {
  const aof = config.get("appendonly")
  if (aof !== "yes") {
    return {
      setting: "appendonly",
      message: `appendonly is "${aof ?? "?"}": without AOF a Redis restart loses every dirty row`
    }
  }
  const fsync = config.get("appendfsync")
  if (fsync !== "always" && fsync !== "everysec") {
    return {
      setting: "appendfsync",
      message: `appendfsync is "${fsync ?? "?"}": use "always" (or "everysec": at most 1 s lost on an OS crash)`
    }
  }
  const policy = config.get("maxmemory-policy")
  if (policy !== "noeviction") {
    return {
      setting: "maxmemory-policy",
      message: `maxmemory-policy is "${policy ?? "?"}": an evicting policy drops dirty rows and locks; use "noeviction"`
    }
  }
  return undefined
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
      durability: options.durability ?? "strict",
      checkDurability: run("CONFIG GET", async () => {
        const config = new Map<string, string>()
        for (const name of ["appendonly", "appendfsync", "maxmemory-policy"]) {
          const reply = (await client.call("CONFIG", "GET", name)) as Array<string>
          for (let i = 0; i + 1 < reply.length; i += 2) config.set(reply[i]!, reply[i + 1]!)
        }
        return config
      }).pipe(
        Effect.map(redisDurability),
        Effect.catchAll((e) =>
          Effect.succeed<DurabilityProblem>({
            setting: "CONFIG",
            message: `cannot read the persistence settings (CONFIG GET failed, a managed Redis?): ${e.message}`
          })
        )
      ),
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
      deleteIf: (key, value) =>
        run("EVAL delete-if", () => client.eval(DELETE_IF, 1, k(key), value)).pipe(
          Effect.map((n) => Number(n) > 0)
        ),
      expireIf: (key, value, ttl) =>
        run("EVAL expire-if", () => client.eval(EXPIRE_IF, 1, k(key), value, ttlMillis(ttl) ?? 1)).pipe(
          Effect.map((n) => Number(n) > 0)
        ),
      delete: (key) => run("DEL", () => client.del(k(key))).pipe(Effect.map((n) => n > 0)),
      deleteMany: (keys) =>
        keys.length === 0 ? Effect.void : run("DEL", () => client.del(...keys.map(k))).pipe(Effect.asVoid),
      incr: (key, by = 1) => run("INCRBY", () => client.incrby(k(key), by)),
      expire: (key, ttl) =>
        run("PEXPIRE", () => client.pexpire(k(key), ttlMillis(ttl) ?? 1)).pipe(Effect.map((n) => n === 1))
    }
    return service
  })
