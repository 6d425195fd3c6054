/**
 * The master's own clock: uptimes in `status` come from the Effect `Clock`, so they follow the
 * TestClock (a master with no nodes and no admin web; its rootport on a free 127.0.0.1 port).
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { NodeContext } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Logger, LogLevel, Ref, Schedule, Schema, TestClock } from "effect"
import * as HotaruConfig from "../src/HotaruConfig.js"
import * as Jobs from "../src/Jobs.js"
import * as Master from "../src/Master.js"
import * as Repository from "../src/Repository.js"
import * as Transport from "../src/Transport.js"
import { freePort } from "./support/ports.js"

const Env = Layer.mergeAll(NodeContext.layer, Transport.layerTcp(), Logger.minimumLogLevel(LogLevel.None))

describe("Master", () => {
  it.scoped("status: the master's uptime follows the Effect Clock (TestClock), and is a StatusReport", () =>
    Effect.gen(function* () {
      const rootport = yield* Effect.promise(freePort)
      const loaded = Either.getOrThrow(
        HotaruConfig.fromObject({ master: { rootport }, servers: {} }, { dir: Os.tmpdir() })
      )
      const master = yield* Master.make({ config: loaded, mode: "in-process", token: "t" }).pipe(
        Effect.provide(Env)
      )
      const before = yield* master.status
      expect(before.master.uptimeMs).toBe(0)
      yield* TestClock.adjust("90 seconds")
      const after = yield* master.status
      expect(after.master.uptimeMs).toBe(90_000)
      expect(after.master.rootport).toBe(rootport)
      // the document the admin API sends is valid against its own Schema
      expect(Schema.is(Master.StatusReport)(after)).toBe(true)
    })
  )
})

// A node's repository refuses a row (UNIQUE): the master's status counts it under that node.
const Player = Schema.Struct({ id: Schema.Int, name: Schema.String })
const storeApp = Layer.scopedDiscard(
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE players (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`
    yield* sql`INSERT INTO players (id, name) VALUES (1, 'taken')`
    const players = yield* Repository.make({ table: "players", schema: Player, primaryKey: "id" })
    yield* players.insert({ id: 2, name: "fresh" })
    yield* players.insert({ id: 3, name: "taken" })
    yield* players.flush
  }).pipe(Effect.orDie)
)

describe("Master status and dead letters", () => {
  it.scopedLive("a row a node's repository dead-letters is counted in that node's status", () =>
    Effect.gen(function* () {
      const rootport = yield* Effect.promise(freePort)
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-deadletters-"))
      const loaded = Either.getOrThrow(
        HotaruConfig.fromObject(
          {
            master: { rootport },
            servers: { store: { db: true, mem: true } },
            db: { driver: "sqlite", filename: "store.sqlite" },
            cache: { driver: "memory", durability: "accept-loss" }
          },
          { dir }
        )
      )
      const master = yield* Master.make({
        config: loaded,
        mode: "in-process",
        token: "t",
        apps: { store: storeApp }
      }).pipe(Effect.provide(Env))
      const store = yield* Effect.flatMap(master.status, (s) =>
        Effect.fromNullable(s.nodes.find((n) => n.name === "store" && n.linked))
      ).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 }))
      expect(store.deadLettered).toBe(1)
    })
  )
})

// A node's app starts a scheduled job: the master's status shows its last and next run.
const jobsApp = Layer.scopedDiscard(
  Jobs.schedule(
    "heartbeat",
    Schedule.spaced("50 millis"),
    Effect.flatMap(Ref.make(0), (r) => Ref.update(r, (n) => n + 1))
  ).pipe(Effect.orDie)
)

describe("Master status and jobs", () => {
  it.scopedLive("a node's scheduled job shows in the master's status, with its last and next run", () =>
    Effect.gen(function* () {
      const rootport = yield* Effect.promise(freePort)
      const loaded = Either.getOrThrow(
        HotaruConfig.fromObject({ master: { rootport }, servers: { worker: {} } }, { dir: Os.tmpdir() })
      )
      const master = yield* Master.make({
        config: loaded,
        mode: "in-process",
        token: "t",
        apps: { worker: jobsApp }
      }).pipe(Effect.provide(Env))
      const job = yield* Effect.flatMap(master.status, (s) =>
        Effect.fromNullable(s.nodes.find((n) => n.name === "worker")?.jobs.find((j) => j.runs >= 2))
      ).pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 200 }))
      expect(job.name).toBe("heartbeat")
      expect(job.schedule).toBe("schedule")
      expect(job.lastRun?.outcome).toBe("success")
      expect(job.nextRunAt).toBeGreaterThanOrEqual(job.lastRun?.startedAt ?? Number.POSITIVE_INFINITY)
    })
  )
})
