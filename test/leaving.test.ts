/**
 * A stopping runner lets go of its shard locks before it leaves the runner table (issue 19, W8):
 * the moment a peer no longer sees it, its locks can be taken. The cluster's own SQL runner
 * storage on MariaDB (advisory `GET_LOCK`s, two connections: two runners), wrapped by hotaru.
 */
import * as Runner from "@effect/cluster/Runner"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as ShardId from "@effect/cluster/ShardId"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Db from "../src/Db.js"
import * as Leaving from "../src/internal/cluster/leaving.js"
import { needs, uniqueName } from "./support/services.js"

const db = Db.layer({ driver: "mysql", host: "127.0.0.1", port: 3306, user: "root", passwd: "", db: "test" })

describe("Leaving.releaseFirst", () => {
  needs("mariadb")
  it.scopedLive("unregister frees the locks first; the leaving runner takes none again", () =>
    Effect.gen(function* () {
      const prefix = uniqueName("leave")
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          for (const t of ["runners", "locks"])
            yield* Effect.ignore(sql.unsafe(`DROP TABLE IF EXISTS ${prefix}_${t}`))
        }).pipe(Effect.provide(db), Effect.orDie)
      )
      const config = ShardingConfig.layer({ shardsPerGroup: 4 })
      const storage = (wrap: boolean) => {
        const sql = SqlRunnerStorage.layerWith({ prefix })
        return Layer.build(
          (wrap ? Leaving.releaseFirst(sql) : sql).pipe(Layer.provide(config), Layer.provide(Layer.fresh(db)))
        )
      }
      const a = RunnerAddress.make("127.0.0.1", 1)
      const b = RunnerAddress.make("127.0.0.1", 2)
      const shards = [1, 2, 3, 4].map((n) => ShardId.make("default", n))
      const stopping = RunnerStorage.RunnerStorage.pipe(Effect.provide(yield* storage(true)))
      const peer = RunnerStorage.RunnerStorage.pipe(Effect.provide(yield* storage(false)))
      const sa = yield* stopping
      const sb = yield* peer
      yield* sa.register(new Runner.Runner({ address: a, groups: ["default"], weight: 1 }), true)
      expect((yield* sa.acquire(a, shards)).length).toBe(4)
      expect(yield* sb.acquire(b, shards)).toEqual([])

      yield* sa.unregister(a)
      // gone from the table, and its locks free at that moment
      expect((yield* sb.getRunners).map(([r]) => r.address.port)).not.toContain(1)
      expect((yield* sb.acquire(b, shards)).length).toBe(4)
      // its loops, still running for a few milliseconds, take nothing back
      expect(yield* sa.refresh(a, shards)).toEqual([])
      expect(yield* sa.acquire(a, shards)).toEqual([])
    })
  )
})
