/** The in-memory `Mem` backend: a Map owned by the layer's scope, expiry read from `Clock`. */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type Durability, MemError, type MemService, type SetOptions, ttlMillis } from "./mem.js"

interface Entry {
  value: string
  expiresAt: number | undefined
}

export const makeMemory = (options?: {
  readonly prefix?: string | undefined
  readonly durability?: Durability | undefined
}): Effect.Effect<MemService> =>
  Effect.sync(() => {
    const prefix = options?.prefix ?? ""
    const store = new Map<string, Entry>()
    const live = (key: string, now: number): Entry | undefined => {
      const entry = store.get(prefix + key)
      if (entry === undefined) return undefined
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) {
        store.delete(prefix + key)
        return undefined
      }
      return entry
    }
    const expiresAt = (now: number, opts: SetOptions | undefined) => {
      const ms = ttlMillis(opts?.ttl)
      return ms === undefined ? undefined : now + ms
    }
    const now = Clock.currentTimeMillis
    const service: MemService = {
      backend: "memory",
      prefix,
      durability: options?.durability ?? "strict",
      checkDurability: Effect.succeed({
        setting: "driver",
        message: "the in-process memory cache dies with the process"
      }),
      get: (key) => Effect.map(now, (t) => Option.fromNullable(live(key, t)?.value)),
      getMany: (keys) => Effect.map(now, (t) => keys.map((key) => Option.fromNullable(live(key, t)?.value))),
      set: (key, value, opts) =>
        Effect.map(now, (t) => {
          store.set(prefix + key, { value, expiresAt: expiresAt(t, opts) })
        }),
      setMany: (entries, opts) =>
        Effect.map(now, (t) => {
          for (const [key, value] of entries)
            store.set(prefix + key, { value, expiresAt: expiresAt(t, opts) })
        }),
      add: (key, value, opts) =>
        Effect.map(now, (t) => {
          if (live(key, t) !== undefined) return false
          store.set(prefix + key, { value, expiresAt: expiresAt(t, opts) })
          return true
        }),
      deleteIf: (key, value) =>
        Effect.map(now, (t) => live(key, t)?.value === value && store.delete(prefix + key)),
      expireIf: (key, value, ttl) =>
        Effect.map(now, (t) => {
          const entry = live(key, t)
          if (entry === undefined || entry.value !== value) return false
          entry.expiresAt = expiresAt(t, { ttl })
          return true
        }),
      delete: (key) => Effect.map(now, (t) => live(key, t) !== undefined && store.delete(prefix + key)),
      deleteMany: (keys) =>
        Effect.sync(() => {
          for (const key of keys) store.delete(prefix + key)
        }),
      incr: (key, by = 1) =>
        Effect.flatMap(now, (t) => {
          const entry = live(key, t)
          const current = entry === undefined ? 0 : Number(entry.value)
          if (!Number.isSafeInteger(current)) {
            return Effect.fail(
              new MemError({
                reason: "CommandFailed",
                backend: "memory",
                message: `incr: the value at "${key}" is not an integer`
              })
            )
          }
          const next = current + by
          store.set(prefix + key, { value: String(next), expiresAt: undefined })
          return Effect.succeed(next)
        }),
      expire: (key, ttl) =>
        Effect.map(now, (t) => {
          const entry = live(key, t)
          if (entry === undefined) return false
          entry.expiresAt = expiresAt(t, { ttl })
          return true
        })
    }
    return service
  })
