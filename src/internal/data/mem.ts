/**
 * The contract shared by every `Mem` backend (in-memory, Redis, memcached).
 * Public names are re-exported from `src/Mem.ts`.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"

/**
 * A failed cache command (backend unreachable, protocol error, bad value).
 *
 * @since 0.1.0
 * @category errors
 */
export class MemError extends Data.TaggedError("MemError")<{
  readonly reason: "Unavailable" | "CommandFailed"
  readonly backend: "memory" | "redis" | "memcached"
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * What the cache promises about acknowledged writes (the `cache` block's `durability` key):
 * `"strict"` (default) — the repository refuses a backend that can lose them; `"accept-loss"` —
 * the operator accepts that a crash or an eviction may lose acknowledged writes.
 *
 * @since 0.1.0
 * @category models
 */
export type Durability = "strict" | "accept-loss"

/**
 * Why a backend can lose acknowledged writes (a setting and what it is), or `undefined` when it
 * cannot (Redis with AOF and `noeviction`).
 *
 * @since 0.1.0
 * @category models
 */
export interface DurabilityProblem {
  readonly setting: string
  readonly message: string
}

/**
 * Options of a write: `ttl` absent = the key never expires on its own.
 *
 * @since 0.1.0
 * @category models
 */
export interface SetOptions {
  readonly ttl?: Duration.DurationInput | undefined
}

/**
 * A small key/value cache. Keys given to it are relative: every backend puts its `prefix` in front
 * (firefly's memcached `hostname:`). Values are strings (callers encode JSON themselves).
 *
 * @since 0.1.0
 * @category models
 */
export interface MemService {
  readonly backend: "memory" | "redis" | "memcached"
  /** The prefix put in front of every key, e.g. `"test:"`. */
  readonly prefix: string
  /** The durability the configuration asked for (default `"strict"`). */
  readonly durability: Durability
  /**
   * Checks the backend's own settings: a problem when it can lose an acknowledged write (Redis
   * without AOF, an evicting `maxmemory-policy`, `CONFIG` unavailable; memcached always; the
   * in-process memory backend always, as it dies with the process).
   */
  readonly checkDurability: Effect.Effect<DurabilityProblem | undefined, MemError>
  readonly get: (key: string) => Effect.Effect<Option.Option<string>, MemError>
  /** One result per key, in the order asked. */
  readonly getMany: (
    keys: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Option.Option<string>>, MemError>
  readonly set: (key: string, value: string, options?: SetOptions) => Effect.Effect<void, MemError>
  readonly setMany: (
    entries: ReadonlyArray<readonly [key: string, value: string]>,
    options?: SetOptions
  ) => Effect.Effect<void, MemError>
  /** Sets the key only if it is absent (Redis `SET NX`, memcached `add`); `true` when it was set. */
  readonly add: (key: string, value: string, options?: SetOptions) => Effect.Effect<boolean, MemError>
  /**
   * Deletes the key only if it holds `value`, atomically (Redis script, memcached `cas`); `true`
   * when it was deleted.
   */
  readonly deleteIf: (key: string, value: string) => Effect.Effect<boolean, MemError>
  /** Sets a new ttl on the key only if it holds `value`, atomically; `true` when it did. */
  readonly expireIf: (
    key: string,
    value: string,
    ttl: Duration.DurationInput
  ) => Effect.Effect<boolean, MemError>
  /** `true` when the key existed. */
  readonly delete: (key: string) => Effect.Effect<boolean, MemError>
  readonly deleteMany: (keys: ReadonlyArray<string>) => Effect.Effect<void, MemError>
  /**
   * Adds `by` (default 1, must be >= 0) to an integer counter and returns the new value; an absent
   * key counts as 0. The counter never expires.
   */
  readonly incr: (key: string, by?: number) => Effect.Effect<number, MemError>
  /** Sets a new time-to-live on an existing key; `false` when the key is absent. */
  readonly expire: (key: string, ttl: Duration.DurationInput) => Effect.Effect<boolean, MemError>
}

/**
 * @since 0.1.0
 * @category services
 */
export class Mem extends Context.Tag("hotaru/Mem")<Mem, MemService>() {}

/** Milliseconds of a ttl, at least 1; `undefined` when no ttl. */
export const ttlMillis = (ttl: Duration.DurationInput | undefined): number | undefined =>
  ttl === undefined ? undefined : Math.max(1, Math.ceil(Duration.toMillis(Duration.decode(ttl))))
