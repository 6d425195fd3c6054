/**
 * The accounts node built from its config file (`db: true`, `mem: true`), booted by TestCluster.
 */

import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Node from "../../src/Node.js"
import { TestCluster } from "../../src/testing.js"
import { requireServiceEffect } from "../../test/support/services.js"
import { AccountNotFound, Get, Register, Rename } from "./commands.js"

const here = Path.dirname(new URL(import.meta.url).pathname)

const flow = (config: Record<string, unknown>) =>
  Effect.gen(function* () {
    const cluster = yield* TestCluster.make({ config, dir: here })
    const info = yield* cluster.node("accounts").use(Node.NodeInfo)
    expect(info.capabilities).toEqual(["netport", "db", "mem"])
    const client = yield* cluster.client("accounts")
    const evil = "Robert'); DROP TABLE accounts;--"
    const { id } = yield* client.call(Register, { username: evil, password: "pw" })
    expect(yield* client.call(Get, { id })).toEqual({ id, username: evil })
    expect(yield* client.call(Rename, { id, username: "bobby" })).toEqual({ id, username: "bobby" })
    const missing = yield* Effect.either(client.call(Get, { id: 987654321 }))
    expect(Either.isLeft(missing) && missing.left).toEqual(new AccountNotFound({ id: 987654321 }))
  })

describe("accounts node from config.json", () => {
  it.scopedLive("on the embedded defaults: SQLite file + in-process cache", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-accounts-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const base = JSON.parse(Fs.readFileSync(Path.join(here, "config.json"), "utf8"))
      yield* flow({ ...base, db: { driver: "sqlite", filename: Path.join(dir, "accounts.sqlite") } })
      expect(Fs.existsSync(Path.join(dir, "accounts.sqlite"))).toBe(true)
    })
  )

  it.scopedLive("on MariaDB + Redis (config.mariadb-redis.json)", () =>
    Effect.gen(function* () {
      yield* requireServiceEffect("mariadb", "redis")
      const config = JSON.parse(Fs.readFileSync(Path.join(here, "config.mariadb-redis.json"), "utf8"))
      yield* flow({ ...config, cache: { ...config.cache, prefix: `accounts-${Date.now()}:` } })
    })
  )
})
