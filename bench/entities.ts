/**
 * Entity workloads (`npm run bench:entities`): the arena example (a net front and 1, 2, 3 runner
 * processes on MariaDB, started through the CLI) under load from this process.
 *
 *   E1 state  c=C: `state {room}` (front → entity → front, no SQL in the handler)
 *   E2 say    c=C: `say {room, player, text}` (one SQL transaction per message)
 *   E3 failover: with 3 runners under E2 load, SIGKILL one; the longest time until every room it
 *                hosted answered again
 *
 *   npm run bench:entities -- --duration 5 --concurrency 64 --runners 1,2,3
 *
 * Needs MariaDB on 127.0.0.1:3306 (root, no password); uses (drops, creates) the database
 * `hotaru_arena_bench`. Each measurement starts a fresh cluster.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Exit, Scope } from "effect"
import mysql from "mysql2/promise"
import { Join, Say, State } from "../examples/arena/protocol.js"
import * as Client from "../src/Client.js"
import type * as Master from "../src/Master.js"
import { numberArg, parseArgs } from "./args.js"

const repo = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const bin = Path.join(repo, "bin/hotaru.js")
const arena = Path.join(repo, "examples/arena")
const args = parseArgs(process.argv.slice(2))
const duration = numberArg(args, "duration", 5)
const concurrency = numberArg(args, "concurrency", 64)
const roomCount = numberArg(args, "rooms", 48)
const runnerCounts = (args.get("runners") ?? "1,2,3").split(",").map(Number)
const database = "hotaru_arena_bench"

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as Net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const waitFor = async <A>(what: string, f: () => Promise<A | undefined>, timeoutMs: number): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      const value = await f()
      if (value !== undefined) return value
    } catch {}
    await sleep(200)
  }
  throw new Error(`timed out waiting for ${what}`)
}

interface Cluster {
  readonly master: ChildProcess
  readonly netport: number
  readonly status: () => Promise<Master.StatusReport>
  readonly stop: () => Promise<void>
}

const start = async (runners: number): Promise<Cluster> => {
  const connection = await mysql.createConnection({ host: "127.0.0.1", user: "root", password: "" })
  await connection.query(`DROP DATABASE IF EXISTS ${database}`)
  await connection.query(`CREATE DATABASE ${database}`)
  await connection.end()
  const [rootport, webport, netport] = [await freePort(), await freePort(), await freePort()]
  const servers: Record<string, unknown> = {
    front: { netport, entities: true, app: Path.join(arena, "front.ts") }
  }
  for (let i = 1; i <= runners; i++)
    servers[`runner${i}`] = { runnerport: await freePort(), app: Path.join(arena, "runner.ts") }
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-bench-entities-"))
  const file = Path.join(dir, "config.json")
  Fs.writeFileSync(
    file,
    JSON.stringify({
      master: { rootport, webport },
      servers,
      db: { host: "127.0.0.1", user: "root", passwd: "", db: database },
      sharding: {
        shardsPerGroup: 60,
        shardLockRefreshInterval: 1,
        shardLockExpiration: 5,
        refreshAssignmentsInterval: 1,
        runnerHealthCheckInterval: 1,
        entityMessagePollInterval: 1,
        entityReplyPollInterval: 0.05,
        entityTerminationTimeout: 3
      },
      supervisor: { graceSeconds: 3 }
    })
  )
  const master = spawn(process.execPath, [bin, "start", file], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, HOTARU_LOG: "warning" }
  })
  const status = async () => {
    const token = Fs.readFileSync(Path.join(dir, ".hotaru-admin-token"), "utf8").trim()
    const response = await fetch(`http://127.0.0.1:${webport}/status`, {
      headers: { authorization: `Bearer ${token}` }
    })
    return (await response.json()) as Master.StatusReport
  }
  await waitFor(
    "the cluster",
    async () => {
      const s = await status()
      return s.nodes.length === runners + 1 && s.nodes.every((n) => n.state === "running") ? true : undefined
    },
    60_000
  )
  return {
    master,
    netport,
    status,
    stop: async () => {
      master.kill("SIGTERM")
      await Promise.race([new Promise((r) => master.once("exit", r)), sleep(15_000)])
      master.kill("SIGKILL")
    }
  }
}

const rooms = Array.from({ length: roomCount }, (_, i) => `room${i}`)

/** `concurrency` loops over one connection each, `call` per iteration; messages/s over `seconds`. */
const load = async (
  netport: number,
  call: (client: Client.Client, room: string) => Effect.Effect<unknown, unknown>,
  seconds: number,
  onSample?: (room: string, at: number) => void
) => {
  const scope = Effect.runSync(Scope.make())
  try {
    const clients = await Promise.all(
      Array.from({ length: Math.min(concurrency, 16) }, () =>
        Effect.runPromise(
          Scope.extend(Client.connect({ host: "127.0.0.1", port: netport, timeout: "60 seconds" }), scope)
        )
      )
    )
    let count = 0
    let measuring = false
    let running = true
    const loops = Array.from({ length: concurrency }, async (_, i) => {
      const client = clients[i % clients.length]!
      const room = rooms[i % rooms.length]!
      while (running) {
        await Effect.runPromise(call(client, room))
        if (measuring) count++
        onSample?.(room, Date.now())
      }
    })
    await sleep(1000)
    measuring = true
    const t0 = Date.now()
    await sleep(seconds * 1000)
    measuring = false
    const rate = count / ((Date.now() - t0) / 1000)
    return {
      rate,
      stop: async () => {
        running = false
        await Promise.all(loops)
      }
    }
  } finally {
    // the caller stops the loops before the scope closes
    setTimeout(() => Effect.runFork(Scope.close(scope, Exit.void)), 120_000).unref()
  }
}

const joinAll = async (netport: number) => {
  const scope = Effect.runSync(Scope.make())
  const client = await Effect.runPromise(
    Scope.extend(Client.connect({ host: "127.0.0.1", port: netport, timeout: "60 seconds" }), scope)
  )
  await Effect.runPromise(
    Effect.forEach(rooms, (room) => client.call(Join, { room, player: "bench" }), { concurrency: 16 })
  )
  const states = await Effect.runPromise(
    Effect.forEach(rooms, (room) => client.call(State, { room }), { concurrency: 16 })
  )
  await Effect.runPromise(Scope.close(scope, Exit.void))
  return new Map(states.map((s) => [s.room, s.runner]))
}

const state = (client: Client.Client, room: string) => client.call(State, { room })
const say = (client: Client.Client, room: string) => client.call(Say, { room, player: "bench", text: "x" })

const main = async () => {
  console.log(`entity bench: ${duration} s per cell, c=${concurrency}, ${roomCount} rooms, MariaDB`)
  for (const n of runnerCounts) {
    const cluster = await start(n)
    try {
      await joinAll(cluster.netport)
      // let the shards settle over every runner before measuring
      await sleep(3000)
      const e1 = await load(cluster.netport, state, duration)
      await e1.stop()
      console.log(`E1 state c=${concurrency} runners=${n}: ${Math.round(e1.rate).toLocaleString()} msg/s`)
      const e2 = await load(cluster.netport, say, duration)
      await e2.stop()
      console.log(`E2 say   c=${concurrency} runners=${n}: ${Math.round(e2.rate).toLocaleString()} msg/s`)
      if (n === 3) {
        const hosts = await joinAll(cluster.netport)
        const victimRooms = new Set([...hosts].filter(([, r]) => r === "runner2").map(([room]) => room))
        let killedAt = 0
        const answered = new Map<string, number>()
        const e3 = await load(cluster.netport, say, 0.5, (room, at) => {
          if (killedAt > 0 && victimRooms.has(room) && !answered.has(room)) answered.set(room, at - killedAt)
        })
        const victim = (await cluster.status()).nodes.find((x) => x.name === "runner2")!
        killedAt = Date.now()
        process.kill(victim.pid!, "SIGKILL")
        await waitFor(
          "the victim's rooms",
          async () => (answered.size === victimRooms.size ? true : undefined),
          60_000
        )
        await e3.stop()
        const times = [...answered.values()].sort((a, b) => a - b)
        console.log(
          `E3 failover (3 runners, ${victimRooms.size} rooms on the killed one): every room answered again within ${times.at(-1)} ms (median ${times[Math.floor(times.length / 2)]} ms)`
        )
      }
    } finally {
      await cluster.stop()
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
