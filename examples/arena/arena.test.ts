/**
 * The arena end to end: the real CLI, a net front and three runner processes, on real MariaDB
 * and on real PostgreSQL (database `hotaru_arena`, recreated here). Rooms spread over the runners; one runner is
 * SIGKILLed while every room is being talked to; every room answers again with its `seq`
 * continuous; the master restarts the runner and it hosts rooms again.
 */
import type { ChildProcess } from "node:child_process"
import * as Path from "node:path"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Scope } from "effect"
import * as Exit from "effect/Exit"
import mysql from "mysql2/promise"
import * as Client from "../../src/Client.js"
import { exited, startHotaru } from "../../test/support/cli.js"
import { status, writeConfig } from "../../test/support/demo.js"
import { freePorts } from "../../test/support/ports.js"
import { needs, services } from "../../test/support/services.js"
import { waitFor } from "../../test/support/wait.js"
import { Join, Say, State } from "./protocol.js"

const here = __dirname
const database = "hotaru_arena"

/** The database the arena lives in: its setup, its `db` block, and what the rooms stored. */
interface Backend {
  readonly name: string
  readonly service: "mariadb" | "postgres"
  readonly fresh: () => Promise<void>
  readonly db: Record<string, unknown>
  /** Per room: how many says are stored, and the highest seq. */
  readonly says: () => Promise<Map<string, { count: number; max: number }>>
}

const saysQuery = "SELECT room, COUNT(*) AS n, MAX(seq) AS m FROM arena_says GROUP BY room"
const byRoom = (rows: ReadonlyArray<{ room: string; n: unknown; m: unknown }>) =>
  new Map(rows.map((r) => [r.room, { count: Number(r.n), max: Number(r.m) }]))

const mariadb: Backend = {
  name: "MariaDB",
  service: "mariadb",
  db: { host: services.mariadb.host, port: services.mariadb.port, user: "root", passwd: "", db: database },
  fresh: async () => {
    const connection = await mysql.createConnection({ ...services.mariadb, user: "root", password: "" })
    try {
      await connection.query(`DROP DATABASE IF EXISTS ${database}`)
      await connection.query(`CREATE DATABASE ${database}`)
    } finally {
      await connection.end()
    }
  },
  says: async () => {
    const connection = await mysql.createConnection({
      ...services.mariadb,
      user: "root",
      password: "",
      database
    })
    try {
      const [rows] = await connection.query(saysQuery)
      return byRoom(rows as Array<{ room: string; n: number; m: number }>)
    } finally {
      await connection.end()
    }
  }
}

const pgQuery = <A extends object>(db: string, statements: ReadonlyArray<string>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      let last: ReadonlyArray<A> = []
      for (const statement of statements) last = yield* sql.unsafe<A>(statement)
      return last
    }).pipe(Effect.provide(PgClient.layer({ ...services.postgres, username: "postgres", database: db })))
  )

const postgres: Backend = {
  name: "PostgreSQL",
  service: "postgres",
  db: {
    driver: "pg",
    host: services.postgres.host,
    port: services.postgres.port,
    user: "postgres",
    db: database
  },
  fresh: () =>
    pgQuery("postgres", [
      `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`,
      `CREATE DATABASE ${database}`
    ]).then(() => undefined),
  says: () => pgQuery<{ room: string; n: string; m: string }>(database, [saysQuery]).then(byRoom)
}

const arenaConfig = async (backend: Backend) => {
  const [rootport, webport, netport, r1, r2, r3] = await freePorts(6)
  const config = {
    master: { rootport, webport },
    servers: {
      front: { netport, entities: true, app: Path.join(here, "front.ts") },
      runner1: { runnerport: r1, app: Path.join(here, "runner.ts") },
      runner2: { runnerport: r2, app: Path.join(here, "runner.ts") },
      runner3: { runnerport: r3, app: Path.join(here, "runner.ts") }
    },
    db: backend.db,
    sharding: {
      shardsPerGroup: 60,
      shardLockRefreshInterval: 1,
      shardLockExpiration: 3,
      refreshAssignmentsInterval: 0.25,
      runnerHealthCheckInterval: 0.5,
      entityMessagePollInterval: 1,
      entityReplyPollInterval: 0.05,
      entityTerminationTimeout: 3
    },
    supervisor: { graceSeconds: 3 }
  }
  return { ...writeConfig("arena", config), netport: netport!, webport: webport! }
}

const startMaster = (file: string): ChildProcess => startHotaru("hotaru start", ["start", file])

const rooms = Array.from({ length: 24 }, (_, i) => `room${i}`)

describe.each([mariadb, postgres])("arena example (front + 3 runners, $name, through the CLI)", (backend) => {
  needs(backend.service)
  it("rooms spread over the runners, survive a SIGKILLed runner with seq continuous, and the runner rejoins", {
    // above the sum of its bounded waits, so a slow step fails with its own message, not this one
    timeout: 240_000
  }, async () => {
    await backend.fresh()
    const { dir, file, netport, webport } = await arenaConfig(backend)
    const master = startMaster(file)
    const scope = Effect.runSync(Scope.make())
    const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
      Effect.runPromise(Effect.provideService(effect, Scope.Scope, scope))
    try {
      await waitFor(
        "every node to run",
        async () => {
          const s = await status(webport, dir)
          return s.nodes.length === 4 && s.nodes.every((n) => n.state === "running") ? s : undefined
        },
        45_000
      )
      const client = await waitFor(
        "the front to accept",
        () => run(Client.connect({ host: "127.0.0.1", port: netport, timeout: "30 seconds" })),
        15_000
      )
      const call = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

      // every room gets a player; then wait until the rooms are spread over all three runners
      for (const room of rooms) {
        const joined = await call(client.call(Join, { room, player: "p1" }))
        expect(joined.room).toBe(room)
        expect(joined.players).toEqual(["p1"])
      }
      const hosts = await waitFor(
        "rooms on all three runners",
        async () => {
          const states = await call(
            Effect.forEach(rooms, (room) => client.call(State, { room }), { concurrency: 8 })
          )
          const byRunner = new Map<string, Array<string>>()
          for (const s of states) byRunner.set(s.runner, [...(byRunner.get(s.runner) ?? []), s.room])
          return byRunner.size === 3 ? byRunner : undefined
        },
        30_000
      )
      expect([...hosts.keys()].sort()).toEqual(["runner1", "runner2", "runner3"])
      // a player who never joined gets the entity's typed error, through the front
      const stranger = await call(
        Effect.flip(client.call(Say, { room: "room0", player: "nobody", text: "hi" }))
      )
      expect(stranger._tag).toBe("NotInRoom")

      // every room is talked to, one say at a time per room, before, during and after the kill
      const acked = new Map<string, Array<number>>(rooms.map((r) => [r, []]))
      let talking = true
      const talk = Promise.all(
        rooms.map(async (room) => {
          while (talking) {
            const r = await call(
              client.call(Say, { room, player: "p1", text: `line ${acked.get(room)!.length}` })
            )
            expect(r.room).toBe(room)
            acked.get(room)!.push(r.seq)
            await new Promise((resolve) => setTimeout(resolve, 100))
          }
        })
      )
      // when the test fails first, its finally closes the client under the talkers: that
      // rejection is the test's failure's echo, not an unhandled one
      talk.catch(() => undefined)
      await waitFor(
        "a few says per room",
        async () => ([...acked.values()].every((a) => a.length >= 2) ? true : undefined),
        20_000
      )

      const before = await status(webport, dir)
      const victim = before.nodes.find((n) => n.name === "runner2")!
      const victimRooms = hosts.get("runner2")!
      const counts = new Map(rooms.map((r) => [r, acked.get(r)!.length]))
      process.kill(victim.pid!, "SIGKILL")
      const killedAt = Date.now()

      // every room answers again: the victim's rooms from another runner (or the restarted one)
      await waitFor(
        "every room to acknowledge a say after the kill",
        async () => (rooms.every((r) => acked.get(r)!.length > counts.get(r)! + 1) ? true : undefined),
        30_000
      )
      const failoverMs = Date.now() - killedAt
      console.log(
        `arena: the killed runner's ${victimRooms.length} rooms answered again within ${failoverMs} ms`
      )

      // the master restarted the runner, and it hosts rooms again
      await waitFor(
        "runner2 to be restarted",
        async () => {
          const s = await status(webport, dir)
          const r = s.nodes.find((n) => n.name === "runner2")
          if (r?.state === "running" && r.restarts === 1 && r.pid !== victim.pid) return true
          // the timeout's message says where it stood
          throw new Error(`runner2 is ${JSON.stringify(r)}`)
        },
        40_000
      )
      await waitFor(
        "runner2 to host rooms again",
        async () => {
          const states = await call(
            Effect.forEach(rooms, (room) => client.call(State, { room }), { concurrency: 8 })
          )
          return states.some((s) => s.runner === "runner2") ? true : undefined
        },
        30_000
      )
      talking = false
      await talk

      // seq: 1, 2, 3, … per room, acknowledged once each, none lost, none repeated
      const stored = await backend.says()
      for (const room of rooms) {
        const seqs = acked.get(room)!
        expect(seqs, room).toEqual(seqs.map((_, i) => i + 1))
        const state = await call(client.call(State, { room }))
        expect(state.seq, room).toBe(seqs.length)
        expect(state.players).toEqual(["p1"])
        expect(stored.get(room), room).toEqual({ count: seqs.length, max: seqs.length })
      }
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      master.kill("SIGTERM")
      await Promise.race([exited(master), new Promise((r) => setTimeout(r, 10_000))])
      master.kill("SIGKILL")
    }
  })
})
