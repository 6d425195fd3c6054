/**
 * The Schemas of the storage blocks: `db` (firefly's MySQL block, plus hotaru's drivers),
 * `memcached` (firefly's) and `cache` (hotaru's choice of `mem` backend).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { described, opt, Port, Str } from "./primitives.js"
/**
 * firefly's top-level `db` block (MySQL), accepted as-is. hotaru adds `driver`
 * (`"mysql"` default when `host` is given, `"pg"`, `"sqlite"`) and `filename` for SQLite.
 *
 * @since 0.1.0
 * @category utils
 */
export const DbConfig = Schema.Struct({
  driver: opt(described(Schema.Literal("mysql", "pg", "sqlite"), '"mysql", "pg" or "sqlite"')),
  host: opt(Str),
  user: opt(Str),
  passwd: opt(Str),
  port: opt(Port),
  db: opt(Str),
  charset: opt(Str),
  filename: opt(Str)
})
export type DbConfig = typeof DbConfig.Type

/**
 * firefly's top-level `memcached` block, accepted as-is.
 *
 * @since 0.1.0
 * @category utils
 */
export const MemcachedConfig = Schema.Struct({
  urls: described(Schema.Array(Str), "a list of host:port strings", false),
  hostname: opt(Str)
})
export type MemcachedConfig = typeof MemcachedConfig.Type

/**
 * hotaru's `cache` block: which `mem` backend nodes with `"mem": true` use. Without it, the
 * `memcached` block selects memcached, and otherwise an in-process memory cache is used.
 *
 * @since 0.1.0
 * @category utils
 */
export const CacheConfig = Schema.Struct({
  driver: described(Schema.Literal("memory", "redis", "memcached"), '"memory", "redis" or "memcached"'),
  url: opt(Str),
  prefix: opt(Str),
  /**
   * What a `Repository` on this cache may promise: `"strict"` (default) refuses a backend that can
   * lose acknowledged writes (Redis without AOF or with an evicting `maxmemory-policy`, `CONFIG`
   * disabled, memcached) and writes through to the database on the in-process `memory` cache;
   * `"accept-loss"` accepts that a crash or an eviction may lose acknowledged writes (write-behind
   * everywhere, as firefly).
   */
  durability: opt(described(Schema.Literal("strict", "accept-loss"), '"strict" or "accept-loss"'))
})
export type CacheConfig = typeof CacheConfig.Type
