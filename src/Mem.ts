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
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import {
  type Durability,
  type DurabilityProblem,
  Mem,
  MemError,
  type MemService,
  type SetOptions
} from "./internal/data/mem.js"
import * as Memcached from "./internal/data/memMemcached.js"
import { type MemcachedOptions } from "./internal/data/memMemcached.js"
import * as Memory from "./internal/data/memMemory.js"
import * as Redis from "./internal/data/memRedis.js"
import { type RedisOptions } from "./internal/data/memRedis.js"

export {
  type Durability,
  type DurabilityProblem,
  Mem,
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
 * A private in-process cache (lost with the process; not shared between nodes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: (options?: {
  readonly prefix?: string | undefined
  readonly durability?: Durability | undefined
}) => Effect.Effect<MemService> = Memory.makeMemory

/**
 * One Redis connection (checked at start: `appendonly`, `appendfsync`, `maxmemory-policy`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRedis: (options: RedisOptions) => Effect.Effect<MemService, MemError, Scope.Scope> =
  Redis.makeRedis

/**
 * A memcached client (only with `durability: "accept-loss"`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemcached: (options: MemcachedOptions) => Effect.Effect<MemService, MemError, Scope.Scope> =
  Memcached.makeMemcached

/**
 * A private in-process cache as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options?: {
  readonly prefix?: string | undefined
  readonly durability?: Durability | undefined
}): Layer.Layer<Mem> => Layer.effect(Mem, makeMemory(options))

/**
 * One Redis connection; keys are prefixed with `prefix` (default none).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedis = (options: RedisOptions): Layer.Layer<Mem, MemError> =>
  Layer.scoped(Mem, makeRedis(options))

/**
 * firefly's `memcached` block as-is: every key is prefixed `hostname:`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemcached = (options: MemcachedOptions): Layer.Layer<Mem, MemError> =>
  Layer.scoped(Mem, makeMemcached(options))

/**
 * The backend `options.driver` names.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: MemOptions): Layer.Layer<Mem, MemError> => {
  switch (options.driver) {
    case "memory":
      return layerMemory({ prefix: options.prefix, durability: options.durability })
    case "redis":
      return layerRedis(options)
    case "memcached":
      return layerMemcached(options)
  }
}

/**
 * firefly's `memcached` block (no `driver` key) means memcached.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromFirefly = (block: FireflyMemcachedBlock): MemOptions => ({
  driver: "memcached",
  urls: block.urls,
  hostname: block.hostname
})
