import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Client from "../../src/Client.js"
import * as Db from "../../src/Db.js"
import * as Mem from "../../src/Mem.js"
import * as NetServer from "../../src/NetServer.js"
import { startRedisServer } from "../../test/support/redisServer.js"
import { needs, uniqueName } from "../../test/support/services.js"
import { Accounts, App } from "./app.js"
import { AccountNotFound, Get, Register, Rename } from "./commands.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hotaru-accounts-"))

const injections = [
  "'; DROP TABLE accounts; --",
  `Robert'); DROP TABLE students;--`,
  `" OR "1"="1`,
  "admin'--",
  "\\'; SELECT 1; --",
  "x' UNION SELECT password FROM accounts --",
  "名前 ✓ 🎮"
]

describe("accounts example, in process (SQLite + memory)", () => {
  const table = uniqueName("accounts")
  const node = NetServer.serve(App, { host: "127.0.0.1", port: 0 }).pipe(
    Layer.provideMerge(Accounts.layer({ table, flushInterval: "1 hour" })),
    Layer.provideMerge(
      Layer.mergeAll(Db.layer({ driver: "sqlite", filename: path.join(tmp, "a.sqlite") }), Mem.layerMemory())
    )
  )

  it.scopedLive("register → get → rename over the net port; unknown ids fail with AccountNotFound", () =>
    Effect.gen(function* () {
      const net = yield* NetServer.NetServer
      const client = yield* Client.connect({
        host: "127.0.0.1",
        port: net.address.port,
        timeout: "10 seconds"
      })
      const { id } = yield* client.call(Register, { username: "ann", password: "secret" })
      expect(yield* client.call(Get, { id })).toEqual({ id, username: "ann" })
      expect(yield* client.call(Rename, { id, username: "anne" })).toEqual({ id, username: "anne" })
      expect(yield* client.call(Get, { id })).toEqual({ id, username: "anne" })
      // AccountNotFound is declared by get/rename: the client receives it typed
      const missing = yield* Effect.flip(client.call(Get, { id: 999_999 }))
      expect(missing).toEqual(new AccountNotFound({ id: 999_999 }))
      const renamed = yield* client
        .call(Rename, { id: 999_999, username: "x" })
        .pipe(Effect.catchTag("AccountNotFound", (e) => Effect.succeed(`caught ${e.id}`)))
      expect(renamed).toBe("caught 999999")
      // the password is stored as a salted scrypt hash, never as sent
      yield* (yield* Accounts).flush
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ password: string }>`SELECT password FROM ${sql(table)} WHERE id = ${id}`
      expect(rows[0]?.password).toMatch(/^scrypt\$/)
      expect(rows[0]?.password).not.toContain("secret")
    }).pipe(Effect.provide(node))
  )

  it.scopedLive("SQL-injection strings as usernames are stored verbatim", () =>
    Effect.gen(function* () {
      const net = yield* NetServer.NetServer
      const client = yield* Client.connect({
        host: "127.0.0.1",
        port: net.address.port,
        timeout: "10 seconds"
      })
      const ids: Array<number> = []
      for (const username of injections)
        ids.push((yield* client.call(Register, { username, password: "p" })).id)
      yield* (yield* Accounts).flush
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{
        id: number
        username: string
      }>`SELECT id, username FROM ${sql(table)} WHERE id IN ${sql.in(ids)} ORDER BY id`
      expect(rows.map((r) => r.username)).toEqual(injections)
      for (const [i, id] of ids.entries()) {
        expect((yield* client.call(Get, { id })).username).toBe(injections[i])
      }
    }).pipe(Effect.provide(node))
  )
})

// ---------------------------------------------------------------------------------------------
// The crash test: real node processes against MariaDB + Redis.

interface Started {
  readonly child: ChildProcess
  readonly port: number
  readonly output: Array<string>
}

/** Starts `main.ts` as a child process and waits for its ready line; SIGKILLed with the scope. */
const startNode = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<Started, Error>((resume) => {
      const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "main.ts"), ...args], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      const output: Array<string> = []
      let buffered = ""
      let ready = false
      child.stdout!.on("data", (chunk: Buffer) => {
        buffered += chunk.toString("utf8")
        const lines = buffered.split("\n")
        buffered = lines.pop()!
        for (const line of lines) {
          output.push(line)
          if (!ready && line.startsWith('{"ready":true')) {
            ready = true
            resume(Effect.succeed({ child, port: (JSON.parse(line) as { port: number }).port, output }))
          }
        }
      })
      child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString("utf8")))
      child.once("exit", (code, signal) => {
        if (!ready)
          resume(
            Effect.fail(new Error(`node exited (${code ?? signal}) before ready:\n${output.join("\n")}`))
          )
      })
      return Effect.sync(() => child.kill("SIGKILL"))
    }).pipe(
      Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("node not ready in 30 s") })
    ),
    ({ child }) =>
      Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

/** Sends `signal` and waits (at most 20 s) for the process to exit. */
const stop = (child: ChildProcess, signal: NodeJS.Signals) =>
  Effect.async<{ code: number | null; signal: NodeJS.Signals | null }>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resume(Effect.succeed({ code: child.exitCode, signal: child.signalCode }))
      return
    }
    child.once("exit", (code, sig) => resume(Effect.succeed({ code, signal: sig })))
    child.kill(signal)
  }).pipe(
    Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`no exit after ${signal}`) })
  )

describe("accounts example, crash test of the embedded default (SQLite + in-process cache)", () => {
  it.scopedLive(
    "50 registrations acknowledged over the net port survive a SIGKILL: all 50 rows are in SQLite",
    () =>
      Effect.gen(function* () {
        const file = path.join(tmp, `${uniqueName("embedded")}.sqlite`)
        // the default cache (in-process, durability strict) and a flush interval of an hour
        const node = yield* startNode(["--port", "0", "--sqlite-file", file, "--flush-interval", "1 hour"])
        const expected = new Map<number, string>()
        yield* Effect.scoped(
          Effect.gen(function* () {
            const client = yield* Client.connect({
              host: "127.0.0.1",
              port: node.port,
              timeout: "20 seconds"
            })
            yield* Effect.forEach(
              Array.from({ length: 50 }, (_, i) => `player-${i}`),
              (username) =>
                Effect.map(client.call(Register, { username, password: "pw" }), ({ id }) =>
                  expected.set(id, username)
                ),
              { concurrency: 8, discard: true }
            )
            // a rename acknowledged just before the kill is kept too
            yield* client.call(Rename, { id: 7, username: "renamed-before-kill" })
            expected.set(7, "renamed-before-kill")
          })
        )
        const killed = yield* stop(node.child, "SIGKILL")
        expect(killed.signal).toBe("SIGKILL")
        const rows = yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          return yield* sql<{ id: number; username: string }>`SELECT id, username FROM accounts`
        }).pipe(Effect.provide(Db.layer({ driver: "sqlite", filename: file })))
        expect(rows.length).toBe(50)
        expect(new Map(rows.map((r) => [Number(r.id), r.username]))).toEqual(expected)
      }),
    60_000
  )
})

// its Redis is a private redis-server with AOF the test starts (support/redisServer.ts)
describe("accounts example, crash test (MariaDB + Redis, real processes)", () => {
  needs("mariadb")
  const mariadb = Db.layer({ driver: "mysql", host: "127.0.0.1", user: "root", db: "test" })

  it.scopedLive(
    "1,000 registrations survive a SIGKILL before the flush: the restarted node flushes them",
    () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const table = uniqueName("accounts")
        const prefix = uniqueName("crash")
        yield* Effect.addFinalizer(() => Effect.ignore(sql`DROP TABLE IF EXISTS ${sql(table)}`))
        // its own Redis with AOF (appendfsync always): the durability check accepts it
        const redis = yield* Effect.acquireRelease(
          Effect.promise(() => startRedisServer()),
          (r) => Effect.promise(() => r.dispose())
        )
        const args = (flushInterval: string) => [
          "--port",
          "0",
          "--db",
          "mysql",
          "--mem",
          "redis",
          "--redis-url",
          redis.url,
          "--table",
          table,
          "--prefix",
          prefix,
          "--flush-interval",
          flushInterval
        ]
        const count = Effect.map(sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${sql(table)}`, (rows) =>
          Number(rows[0]?.n ?? 0)
        )

        // 1. A node with a flush interval of an hour takes 1,000 registrations.
        const first = yield* startNode(args("1 hour"))
        const expected = new Map<number, string>()
        yield* Effect.scoped(
          Effect.gen(function* () {
            const client = yield* Client.connect({
              host: "127.0.0.1",
              port: first.port,
              timeout: "20 seconds"
            })
            yield* Effect.forEach(
              Array.from({ length: 1000 }, (_, i) => `player-${i}`),
              (username) =>
                Effect.map(client.call(Register, { username, password: "pw" }), ({ id }) =>
                  expected.set(id, username)
                ),
              { concurrency: 32, discard: true }
            )
            expect(yield* client.call(Get, { id: 1 })).toEqual({ id: 1, username: expected.get(1) })
          })
        )
        expect(expected.size).toBe(1000)
        expect(yield* count).toBe(0) // nothing flushed yet

        // 2. SIGKILL: no clean stop, no final flush.
        const killed = yield* stop(first.child, "SIGKILL")
        expect(killed.signal).toBe("SIGKILL")
        expect(yield* count).toBe(0)

        // 3. A new node (same cache) flushes what the dead one left in Redis.
        const second = yield* startNode(args("500"))
        const n = yield* count.pipe(
          Effect.filterOrFail((n) => n === 1000),
          Effect.retry(Schedule.spaced("200 millis")),
          Effect.timeout("30 seconds")
        )
        expect(n).toBe(1000)
        const rows = yield* sql<{ id: number; username: string }>`SELECT id, username FROM ${sql(table)}`
        expect(new Map(rows.map((r) => [Number(r.id), r.username]))).toEqual(expected)

        // 4. The new node serves the old accounts; SIGTERM is a clean stop.
        yield* Effect.scoped(
          Effect.gen(function* () {
            const client = yield* Client.connect({
              host: "127.0.0.1",
              port: second.port,
              timeout: "20 seconds"
            })
            expect(yield* client.call(Rename, { id: 500, username: "renamed" })).toEqual({
              id: 500,
              username: "renamed"
            })
          })
        )
        yield* stop(second.child, "SIGTERM")
        const renamed = yield* sql<{ username: string }>`SELECT username FROM ${sql(table)} WHERE id = ${500}`
        expect(renamed[0]?.username, second.output.join("\n")).toBe("renamed")
      }).pipe(Effect.provide(mariadb)),
    120_000
  )
})
