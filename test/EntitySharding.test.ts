import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { ClusterSchema, Entity } from "@effect/cluster"
import { Rpc } from "@effect/rpc"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Layer, Option, Schema } from "effect"
import * as Db from "../src/Db.js"
import * as EntitySharding from "../src/EntitySharding.js"
import * as HotaruConfig from "../src/HotaruConfig.js"
import { freePort } from "./support/ports.js"
import { needs, type ServiceName, uniqueName } from "./support/services.js"

describe("Sharding config", () => {
  it("accepts runnerport, runnerhost, entities and the sharding block; runnerport is a port like the others", () => {
    const ok = HotaruConfig.decode("c.json", {
      servers: {
        front: { netport: 10021, entities: true },
        r1: { runnerport: 12001, runnerhost: "10.0.0.5" }
      },
      sharding: { shardsPerGroup: 30, shardLockExpiration: 4, prefix: "arena_cluster" }
    })
    expect(Either.isRight(ok)).toBe(true)
    const clash = HotaruConfig.decode("c.json", {
      servers: { a: { netport: 12001 }, b: { runnerport: 12001 } }
    })
    expect(Either.getLeft(clash).pipe(Option.map((e) => e.issues))).toEqual(
      Option.some(["servers.b.runnerport: port 12001 is already used by servers.a.netport"])
    )
    const bad = HotaruConfig.decode("c.json", {
      servers: {},
      sharding: { shardsPerGroup: 0, prefix: "x; DROP TABLE y" }
    })
    expect(Either.getLeft(bad).pipe(Option.map((e) => e.issues.length))).toEqual(Option.some(2))
  })

  it("roleOf: a runner binds like a rootport (loopback by default); entities: true is a client", () => {
    expect(EntitySharding.roleOf({ runnerport: 12001 })).toEqual({
      _tag: "Runner",
      bind: "127.0.0.1",
      host: "127.0.0.1",
      port: 12001
    })
    expect(EntitySharding.roleOf({ runnerport: 12001, bind: "10.0.0.5" })).toEqual({
      _tag: "Runner",
      bind: "10.0.0.5",
      host: "10.0.0.5",
      port: 12001
    })
    expect(
      EntitySharding.roleOf({ runnerport: 12001, bind: { root: "0.0.0.0" }, runnerhost: "game-3" })
    ).toEqual({
      _tag: "Runner",
      bind: "0.0.0.0",
      host: "game-3",
      port: 12001
    })
    expect(EntitySharding.roleOf({ netport: 1, entities: true })).toEqual({ _tag: "Client" })
    expect(EntitySharding.roleOf({ netport: 1 })).toBeUndefined()
  })

  it("settingsOf: hotaru's defaults, the block over them, in seconds", () => {
    const d = EntitySharding.settingsOf(undefined, { _tag: "Client" })
    expect(Option.isNone(d.runnerAddress)).toBe(true)
    expect(d.shardsPerGroup).toBe(300)
    expect(Duration.toMillis(d.shardLockExpiration)).toBe(15_000)
    const s = EntitySharding.settingsOf(
      { shardsPerGroup: 12, entityMaxIdleTime: 2.5 },
      { _tag: "Runner", bind: "127.0.0.1", host: "127.0.0.1", port: 1234 }
    )
    expect(s.shardsPerGroup).toBe(12)
    expect(Duration.toMillis(s.entityMaxIdleTime)).toBe(2500)
    expect(Option.map(s.runnerAddress, (a) => a.port)).toEqual(Option.some(1234))
  })

  it("defaultPrefix: per database on MySQL (its named locks are server-wide)", () => {
    expect(EntitySharding.defaultPrefix({ driver: "mysql", host: "h", user: "u", db: "game-1" })).toBe(
      "cluster_game_1"
    )
    expect(EntitySharding.defaultPrefix({ driver: "pg", host: "h", user: "u", db: "game" })).toBe("cluster")
    expect(EntitySharding.defaultPrefix(undefined)).toBe("cluster")
  })

  it.effect(
    "a runner beyond loopback without the cluster secret refuses to start, saying how to fix it",
    () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          Layer.build(
            EntitySharding.layer({ role: { _tag: "Runner", bind: "0.0.0.0", host: "10.0.0.5", port: 12001 } })
          ).pipe(Effect.scoped, Effect.provide(Db.layer({ driver: "sqlite", filename: ":memory:" })))
        )
        expect(error._tag).toBe("ShardingError")
        expect((error as EntitySharding.ShardingError).reason).toBe("Unprotected")
        expect(error.message).toMatch(/secret/)
      })
  )
})

class Full extends Schema.TaggedError<Full>()("Full", { id: Schema.String }) {}

const Counter = Entity.make("Counter", [
  Rpc.make("Add", { payload: { n: Schema.Int }, success: Schema.Int, error: Full }),
  // a persisted message: stored in <prefix>_messages before delivery, its reply in <prefix>_replies
  Rpc.make("Log", { payload: { line: Schema.String }, success: Schema.Int }).annotate(
    ClusterSchema.Persisted,
    true
  )
])

const counterHandlers = Counter.toLayer(
  Effect.gen(function* () {
    const id = (yield* Entity.CurrentAddress).entityId
    let total = 0
    let lines = 0
    return {
      Log: () => Effect.sync(() => ++lines),
      Add: ({ payload }) =>
        total + payload.n > 10 ? Effect.fail(new Full({ id })) : Effect.sync(() => (total += payload.n))
    }
  })
)

const drivers: ReadonlyArray<{
  readonly name: string
  readonly services: ReadonlyArray<ServiceName>
  readonly options: Db.DbOptions
}> = [
  {
    name: "sqlite (one host, development)",
    services: [],
    options: {
      driver: "sqlite",
      filename: Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-sharding-")), "cluster.sqlite")
    }
  },
  {
    name: "mysql",
    services: ["mariadb"],
    options: { driver: "mysql", host: "127.0.0.1", port: 3306, user: "root", passwd: "", db: "test" }
  },
  {
    name: "pg",
    services: ["postgres"],
    options: { driver: "pg", host: "127.0.0.1", user: "postgres", db: "test" }
  }
]

for (const driver of drivers) {
  describe(`EntitySharding.layer on ${driver.name}`, () => {
    needs(...driver.services)
    it.scopedLive(
      "a runner hosts an entity; a client-only node calls it typed over the runner port, persisted messages stored first",
      () =>
        Effect.gen(function* () {
          const prefix = uniqueName("shard")
          const port = yield* Effect.promise(freePort)
          const sharding = { prefix, shardsPerGroup: 6, refreshAssignmentsInterval: 0.2 }
          const db = Db.layer(driver.options)
          yield* Effect.addFinalizer(() =>
            Effect.gen(function* () {
              const sql = yield* SqlClient.SqlClient
              for (const t of ["runners", "locks", "messages", "replies", "migrations"]) {
                yield* Effect.ignore(sql.unsafe(`DROP TABLE IF EXISTS ${prefix}_${t}`))
              }
            }).pipe(Effect.provide(db), Effect.orDie)
          )
          // the runner, in its own scope
          yield* Layer.build(
            counterHandlers.pipe(
              Layer.provideMerge(
                EntitySharding.layer({
                  role: { _tag: "Runner", bind: "127.0.0.1", host: "127.0.0.1", port },
                  sharding
                })
              ),
              Layer.provide(db)
            )
          )
          // a client-only node: its own Sharding, the same database
          const client = yield* Layer.build(
            EntitySharding.layer({ role: { _tag: "Client" }, sharding }).pipe(Layer.provide(Layer.fresh(db)))
          )
          const counter = yield* Effect.provide(Counter.client, client)
          expect(
            yield* EntitySharding.orDieCluster(counter("a").Add({ n: 4 })).pipe(Effect.timeout("20 seconds"))
          ).toBe(4)
          expect(yield* EntitySharding.orDieCluster(counter("a").Add({ n: 5 }))).toBe(9)
          expect(yield* EntitySharding.orDieCluster(counter("b").Add({ n: 1 }))).toBe(1)
          const full = yield* Effect.flip(EntitySharding.orDieCluster(counter("a").Add({ n: 5 })))
          expect(full).toEqual(new Full({ id: "a" }))
          // persisted: answered like the others, and stored in the cluster's message table first
          expect(
            yield* EntitySharding.orDieCluster(counter("a").Log({ line: "one" })).pipe(
              Effect.timeout("20 seconds")
            )
          ).toBe(1)
          expect(yield* EntitySharding.orDieCluster(counter("a").Log({ line: "two" }))).toBe(2)
          const stored = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
            sql.unsafe<{ n: number | string }>(
              `SELECT COUNT(*) AS n FROM ${prefix}_messages WHERE entity_id = 'a' AND tag = 'Log'`
            )
          ).pipe(Effect.provide(db), Effect.orDie)
          expect(Number(stored[0]?.n)).toBe(2)
        }),
      { timeout: 60_000 }
    )
  })
}
