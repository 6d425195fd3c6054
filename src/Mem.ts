/**
 * The `mem` capability: a small key/value cache with three backends — in-memory (the default),
 * Redis (ioredis) and memcached (memjs, firefly's `memcached` block as-is).
 *
 * ```ts
 * const program = Effect.gen(function* () {
 *   const mem = yield* Mem
 *   yield* mem.set("hello", "world", { ttl: "1 minute" })
 * }).pipe(Effect.provide(Mem.layerRedis({ url: "redis://127.0.0.1:6379", prefix: "game:" })))
 * ```
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import {
  type Durability,
  type DurabilityProblem,
  MemError,
  type MemService,
  type SetOptions
} from "./internal/mem.js"
import { type MemcachedOptions, makeMemcached } from "./internal/memMemcached.js"
import { makeMemory } from "./internal/memMemory.js"
import { makeRedis, type RedisOptions } from "./internal/memRedis.js"

export {
  type Durability,
  type DurabilityProblem,
  type MemcachedOptions,
  MemError,
  type MemService,
  type RedisOptions,
  type SetOptions
}

/**
 * Which backend, as the config file names it.
 *
 * @since 0.1.0
 * @category models
 */
export type MemOptions =
  | {
      readonly driver: "memory"
      readonly prefix?: string | undefined
      readonly durability?: Durability | undefined
    }
  | ({ readonly driver: "redis" } & RedisOptions)
  | ({ readonly driver: "memcached" } & MemcachedOptions)

/**
 * firefly's top-level `memcached` block: `{ "urls": ["127.0.0.1:11211"], "hostname": "test" }`.
 *
 * @since 0.1.0
 * @category models
 */
export interface FireflyMemcachedBlock {
  readonly urls: ReadonlyArray<string>
  readonly hostname: string
}

/**
 * @since 0.1.0
 * @category services
 */
export class Mem extends Context.Tag("hotaru/Mem")<Mem, MemService>() {
  /** A private in-process cache (lost with the process; not shared between nodes). */
  static readonly makeMemory: (options?: {
    readonly prefix?: string | undefined
    readonly durability?: Durability | undefined
  }) => Effect.Effect<MemService> = makeMemory
  static readonly makeRedis: (options: RedisOptions) => Effect.Effect<MemService, MemError, Scope.Scope> =
    makeRedis
  static readonly makeMemcached: (
    options: MemcachedOptions
  ) => Effect.Effect<MemService, MemError, Scope.Scope> = makeMemcached

  static readonly layerMemory = (options?: {
    readonly prefix?: string | undefined
    readonly durability?: Durability | undefined
  }): Layer.Layer<Mem> => Layer.effect(Mem, makeMemory(options))

  /** One Redis connection; keys are prefixed with `prefix` (default none). */
  static readonly layerRedis = (options: RedisOptions): Layer.Layer<Mem, MemError> =>
    Layer.scoped(Mem, makeRedis(options))

  /** firefly's `memcached` block as-is: every key is prefixed `hostname:`. */
  static readonly layerMemcached = (options: MemcachedOptions): Layer.Layer<Mem, MemError> =>
    Layer.scoped(Mem, makeMemcached(options))

  static readonly layer = (options: MemOptions): Layer.Layer<Mem, MemError> => {
    switch (options.driver) {
      case "memory":
        return Mem.layerMemory({ prefix: options.prefix, durability: options.durability })
      case "redis":
        return Mem.layerRedis(options)
      case "memcached":
        return Mem.layerMemcached(options)
    }
  }

  /** firefly's `memcached` block (no `driver` key) means memcached. */
  static readonly fromFirefly = (block: FireflyMemcachedBlock): MemOptions => ({
    driver: "memcached",
    urls: block.urls,
    hostname: block.hostname
  })
}

/**
 * The same constructors as module functions, for `import * as Mem from "./Mem.js"`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = Mem.layerMemory
/**
 * @since 0.1.0
 * @category layers
 */
export const layerRedis = Mem.layerRedis
/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemcached = Mem.layerMemcached
/**
 * @since 0.1.0
 * @category layers
 */
export const layer = Mem.layer
/**
 * @since 0.1.0
 * @category constructors
 */
export const fromFirefly = Mem.fromFirefly
