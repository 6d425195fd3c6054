import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Mem from "../src/Mem.js"
import { type MemError } from "../src/Mem.js"
import { needs, type ServiceName, uniqueName } from "./support/services.js"

interface Backend {
  readonly name: string
  /** The services it needs: a missing one fails its tests, naming it. */
  readonly services: ReadonlyArray<ServiceName>
  /** A fresh layer whose keys start with `<prefix>:`. */
  readonly layer: (prefix: string) => Layer.Layer<Mem.Mem, MemError>
}

const backends: ReadonlyArray<Backend> = [
  { name: "memory", services: [], layer: (prefix) => Mem.layerMemory({ prefix: `${prefix}:` }) },
  {
    name: "redis",
    services: ["redis"],
    layer: (prefix) => Mem.layerRedis({ url: "redis://127.0.0.1:6379", prefix: `${prefix}:` })
  },
  {
    name: "memcached",
    services: ["memcached"],
    layer: (prefix) => Mem.layerMemcached({ urls: ["127.0.0.1:11211"], hostname: prefix })
  }
]

for (const backend of backends) {
  describe(`Mem contract: ${backend.name}`, () => {
    needs(...backend.services)
    const run = <A, E>(effect: Effect.Effect<A, E, Mem.Mem>) =>
      Effect.provide(effect, backend.layer(uniqueName("memtest")))

    it.live("get / set / delete", () =>
      run(
        Effect.gen(function* () {
          const mem = yield* Mem.Mem
          expect(yield* mem.get("a")).toEqual(Option.none())
          yield* mem.set("a", "one")
          expect(yield* mem.get("a")).toEqual(Option.some("one"))
          yield* mem.set("a", "two")
          expect(yield* mem.get("a")).toEqual(Option.some("two"))
          expect(yield* mem.delete("a")).toBe(true)
          expect(yield* mem.delete("a")).toBe(false)
          expect(yield* mem.get("a")).toEqual(Option.none())
          const text = `ünïcødé ✓ 🎮 "quotes" 'and' \\ back\nslash`
          yield* mem.set("u", text)
          expect(yield* mem.get("u")).toEqual(Option.some(text))
        })
      )
    )

    it.live("getMany / setMany / deleteMany keep the order and report the missing", () =>
      run(
        Effect.gen(function* () {
          const mem = yield* Mem.Mem
          yield* mem.setMany([
            ["x", "1"],
            ["z", "3"]
          ])
          expect(yield* mem.getMany(["x", "y", "z"])).toEqual([
            Option.some("1"),
            Option.none(),
            Option.some("3")
          ])
          expect(yield* mem.getMany([])).toEqual([])
          yield* mem.deleteMany(["x", "z", "never-there"])
          expect(yield* mem.getMany(["x", "z"])).toEqual([Option.none(), Option.none()])
        })
      )
    )

    it.live("add sets only an absent key, and exactly one of many concurrent adds wins", () =>
      run(
        Effect.gen(function* () {
          const mem = yield* Mem.Mem
          expect(yield* mem.add("k", "first")).toBe(true)
          expect(yield* mem.add("k", "second")).toBe(false)
          expect(yield* mem.get("k")).toEqual(Option.some("first"))
          yield* mem.delete("k")
          expect(yield* mem.add("k", "third")).toBe(true)
          const results = yield* Effect.all(
            Array.from({ length: 20 }, (_, i) => mem.add("race", String(i))),
            { concurrency: "unbounded" }
          )
          expect(results.filter((ok) => ok)).toHaveLength(1)
        })
      )
    )

    it.live("incr counts from 0, by any amount, atomically", () =>
      run(
        Effect.gen(function* () {
          const mem = yield* Mem.Mem
          expect(yield* mem.incr("n")).toBe(1)
          expect(yield* mem.incr("n", 5)).toBe(6)
          expect(yield* mem.get("n")).toEqual(Option.some("6"))
          yield* mem.set("m", "41")
          expect(yield* mem.incr("m")).toBe(42)
          const all = yield* Effect.all(
            Array.from({ length: 50 }, () => mem.incr("c")),
            { concurrency: "unbounded" }
          )
          expect(new Set(all).size).toBe(50)
          expect(Math.max(...all)).toBe(50)
        })
      )
    )

    it.live(
      "ttl: keys set or touched with a ttl expire, others stay",
      () =>
        run(
          Effect.gen(function* () {
            const mem = yield* Mem.Mem
            yield* mem.set("short", "v", { ttl: "1 second" })
            yield* mem.set("long", "v")
            yield* mem.set("touched", "v")
            expect(yield* mem.expire("touched", "1 second")).toBe(true)
            expect(yield* mem.expire("absent", "1 second")).toBe(false)
            expect(yield* mem.add("added", "v", { ttl: "1 second" })).toBe(true)
            expect(yield* mem.get("short")).toEqual(Option.some("v"))
            yield* Effect.sleep("2200 millis")
            expect(yield* mem.getMany(["short", "touched", "added", "long"])).toEqual([
              Option.none(),
              Option.none(),
              Option.none(),
              Option.some("v")
            ])
          })
        ),
      10_000
    )

    it.live("the prefix separates two users of one backend", () =>
      Effect.gen(function* () {
        const a = uniqueName("pa")
        const b = uniqueName("pb")
        const mA = yield* Effect.provide(Mem.Mem, backend.layer(a))
        expect(mA.prefix).toBe(`${a}:`)
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* Effect.provide(
              Effect.flatMap(Mem.Mem, (m) => m.set("shared", "from a")),
              backend.layer(a)
            )
          })
        )
        if (backend.name !== "memory") {
          // Same prefix, new connection: the value is there. Other prefix: it is not.
          expect(
            yield* Effect.provide(
              Effect.flatMap(Mem.Mem, (m) => m.get("shared")),
              backend.layer(a)
            )
          ).toEqual(Option.some("from a"))
        }
        expect(
          yield* Effect.provide(
            Effect.flatMap(Mem.Mem, (m) => m.get("shared")),
            backend.layer(b)
          )
        ).toEqual(Option.none())
      })
    )
  })
}

describe("Mem backends that are not there", () => {
  it.live("Redis on a closed port fails the layer with MemError Unavailable", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.provide(Mem.Mem, Mem.layerRedis({ url: "redis://127.0.0.1:1", connectTimeoutMillis: 500 }))
      )
      expect(error.reason).toBe("Unavailable")
      expect(error.message).toContain("127.0.0.1:1")
    })
  )

  it.live("memcached on a closed port fails the layer with MemError Unavailable", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.provide(Mem.Mem, Mem.layerMemcached({ urls: ["127.0.0.1:1"], hostname: "x" }))
      )
      expect(error.reason).toBe("Unavailable")
      expect(error.message).toContain("127.0.0.1:1")
    })
  )

  it("fromFirefly reads firefly's memcached block as-is", () => {
    expect(Mem.fromFirefly({ urls: ["127.0.0.1:11211"], hostname: "test" })).toEqual({
      driver: "memcached",
      urls: ["127.0.0.1:11211"],
      hostname: "test"
    })
  })
})
