/**
 * Runs one accounts node: net + db + mem, composed by hand from command-line options (each also
 * readable from an `ACCOUNTS_*` environment variable).
 *
 *   node --import tsx examples/accounts/main.ts                       # SQLite + in-memory cache
 *   node --import tsx examples/accounts/main.ts --db mysql --mem redis # MariaDB + Redis
 *
 * Options: --host (127.0.0.1) --port (10001) --db sqlite|mysql|pg --sqlite-file
 * (examples/accounts/data/accounts.sqlite) --db-host (127.0.0.1) --db-port --db-user (root; pg:
 * postgres) --db-password --db-name (test) --mem memory|redis|memcached --redis-url
 * (redis://127.0.0.1:6379) --memcached-urls (127.0.0.1:11211) --prefix (accounts) --table
 * (accounts) --flush-interval ("10 seconds"; a number is milliseconds) --durability strict|accept-loss
 * (strict: the in-process cache writes through to the database; Redis must have AOF and
 * noeviction; memcached is refused).
 *
 * When listening it prints one line `{"ready":true,"port":N}`. SIGTERM/SIGINT stop it cleanly
 * (the repository flushes on the way out); SIGKILL loses no acknowledged write: on the in-process
 * cache each write is in the database before it is acknowledged, and a Redis with AOF keeps the
 * dirty rows for the next node to flush.
 */
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { NodeRuntime } from "@effect/platform-node"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Db from "../../src/Db.js"
import * as Mem from "../../src/Mem.js"
import * as NetServer from "../../src/NetServer.js"
import { Accounts, App } from "./app.js"

const here = path.dirname(fileURLToPath(import.meta.url))

const option = (name: string, fallback?: string): string | undefined => {
  const args = process.argv.slice(2)
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === `--${name}`) return args[i + 1]
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3)
  }
  return process.env[`ACCOUNTS_${name.toUpperCase().replaceAll("-", "_")}`] ?? fallback
}

const fail = (message: string): never => {
  console.error(`accounts: ${message}`)
  process.exit(2)
}

const duration = (text: string): Duration.Duration =>
  /^\d+$/.test(text)
    ? Duration.millis(Number(text))
    : Option.getOrElse(Duration.decodeUnknown(text), () => fail(`not a duration: ${text}`))

const dbDriver = option("db", "sqlite")
const dbOptions: Db.DbOptions =
  dbDriver === "sqlite"
    ? { driver: "sqlite", filename: option("sqlite-file") ?? path.join(here, "data", "accounts.sqlite") }
    : dbDriver === "mysql" || dbDriver === "pg"
      ? {
          driver: dbDriver,
          host: option("db-host", "127.0.0.1")!,
          user: option("db-user", dbDriver === "pg" ? "postgres" : "root")!,
          db: option("db-name", "test")!,
          ...(option("db-port") !== undefined ? { port: Number(option("db-port")) } : {}),
          ...(option("db-password") !== undefined ? { passwd: option("db-password")! } : {})
        }
      : fail(`--db must be sqlite, mysql or pg, not ${dbDriver}`)

const prefix = option("prefix", "accounts")!
const memDriver = option("mem", "memory")
const durabilityOption = option("durability", "strict")
const durability: Mem.Durability =
  durabilityOption === "strict" || durabilityOption === "accept-loss"
    ? durabilityOption
    : fail(`--durability must be strict or accept-loss, not ${durabilityOption}`)
const memOptions: Mem.MemOptions =
  memDriver === "memory"
    ? { driver: "memory", prefix: `${prefix}:`, durability }
    : memDriver === "redis"
      ? {
          driver: "redis",
          url: option("redis-url", "redis://127.0.0.1:6379")!,
          prefix: `${prefix}:`,
          durability
        }
      : memDriver === "memcached"
        ? {
            driver: "memcached",
            urls: option("memcached-urls", "127.0.0.1:11211")!.split(","),
            hostname: prefix,
            durability
          }
        : fail(`--mem must be memory, redis or memcached, not ${memDriver}`)

const port = Number(option("port", "10001"))
const host = option("host", "127.0.0.1")!

const Node = NetServer.serve(App, { host, port, node: "accounts" }).pipe(
  Layer.provide(
    Accounts.layer({
      table: option("table", "accounts"),
      flushInterval: duration(option("flush-interval", "10 seconds")!)
    })
  ),
  Layer.provide(Layer.mergeAll(Db.layer(dbOptions), Mem.layer(memOptions)))
)

const program = Effect.gen(function* () {
  const net = yield* NetServer.NetServer
  yield* Effect.log(`accounts on ${Db.describe(dbOptions)} + ${memOptions.driver}`)
  console.log(JSON.stringify({ ready: true, port: net.address.port }))
  return yield* Effect.never
}).pipe(Effect.provide(Node))

NodeRuntime.runMain(program)
