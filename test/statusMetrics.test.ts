/**
 * `/status` and `/metrics` say the same: a node's `messages` and `deadLettered` in the master's
 * `/status` are read from the Effect Metrics its `/metrics` renders
 * (`hotaru_edge_events{event="requests"}`, `hotaru_repository_dead_lettered_rows`), not from
 * counters kept beside them. A master (in-process) with one node that has a netport and a
 * repository that dead-letters a row; traffic from a real client; both endpoints read over HTTP.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { NodeContext } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Logger, LogLevel, Random, Schedule, Schema } from "effect"
import * as Client from "../src/Client.js"
import * as HotaruConfig from "../src/HotaruConfig.js"
import * as Master from "../src/Master.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetServer from "../src/NetServer.js"
import * as Repository from "../src/Repository.js"
import * as Transport from "../src/Transport.js"
import { freePorts } from "./support/ports.js"
import { parse, sampleValue } from "./support/prometheus.js"

const Env = Layer.mergeAll(NodeContext.layer, Transport.layerTcp(), Logger.minimumLogLevel(LogLevel.None))

const Echo = NetCommand.json(410, { name: "echo", request: Schema.Int, response: Schema.Int })

// a node that answers Echo, and whose repository dead-letters one row (UNIQUE) at start
const Player = Schema.Struct({ id: Schema.Int, name: Schema.String })
const app = Layer.mergeAll(
  NetServer.handle(Echo, (n) => Effect.succeed(n)),
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE IF NOT EXISTS players (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`
      yield* sql`INSERT OR IGNORE INTO players (id, name) VALUES (1, 'taken')`
      const players = yield* Repository.make({ table: "players", schema: Player, primaryKey: "id" })
      // a fresh id each incarnation (the node is restarted below), a name the table refuses
      yield* players.insert({ id: yield* Random.nextIntBetween(10, 1_000_000_000), name: "taken" })
      yield* players.flush
    }).pipe(Effect.orDie)
  )
)

const node = "counted"

describe("/status counters are the /metrics counters", () => {
  it.scopedLive("messages and deadLettered equal the scrape's samples, as traffic moves them", () =>
    Effect.gen(function* () {
      const [rootport, webport, netport] = (yield* Effect.promise(() => freePorts(3))) as [
        number,
        number,
        number
      ]
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-status-metrics-"))
      const loaded = Either.getOrThrow(
        HotaruConfig.fromObject(
          {
            master: { rootport, webport },
            servers: { [node]: { netport, db: true, mem: true } },
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
        apps: { [node]: app }
      }).pipe(Effect.provide(Env))
      const get = (path: string) =>
        Effect.promise(() =>
          fetch(`http://127.0.0.1:${webport}${path}`, { headers: { authorization: "Bearer t" } }).then((r) =>
            r.text()
          )
        )
      const status = Effect.map(get("/status"), (text) => {
        const report = Schema.decodeUnknownSync(Master.StatusReport)(JSON.parse(text))
        return report.nodes.find((n) => n.name === node)!
      })
      const scrape = Effect.map(get("/metrics"), parse)
      /** `/status`'s numbers and the scrape's, read one after the other (no traffic between). */
      const both = Effect.gen(function* () {
        const s = yield* status
        const m = yield* scrape
        return {
          status: { messages: s.messages, deadLettered: s.deadLettered },
          metrics: {
            messages: sampleValue(m, "hotaru_edge_events_total", { node, event: "requests" }) ?? 0,
            deadLettered: sampleValue(m, "hotaru_repository_dead_lettered_rows_total", {
              node,
              table: "players"
            })
          }
        }
      })
      // the node is up and has dead-lettered its row
      yield* Effect.flatMap(status, (s) =>
        s.linked && s.deadLettered === 1 ? Effect.void : Effect.fail("not yet")
      ).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 150 }))
      const before = yield* both
      expect(before.status).toEqual(before.metrics)
      expect(before.status.deadLettered).toBe(1)

      const send = (requests: number) =>
        Effect.scoped(
          Effect.flatMap(Client.connect({ host: "127.0.0.1", port: netport, timeout: "2 seconds" }), (c) =>
            Effect.forEach(
              Array.from({ length: requests }, (_, i) => i),
              (i) => Effect.map(c.call(Echo, i), (n) => expect(n).toBe(i))
            )
          )
        ).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 }))
      yield* send(25)
      const after = yield* both
      expect(after.status).toEqual(after.metrics)
      expect(after.status.messages - before.status.messages).toBe(25)

      // restarted in the same process: a counter kept by the node would start again from 0; the
      // metric (and so /status) goes on, and the new incarnation dead-letters its row once more
      yield* master.restart(node)
      yield* Effect.flatMap(status, (s) =>
        s.linked && s.deadLettered === 2 ? Effect.void : Effect.fail("not yet")
      ).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 150 }))
      yield* send(5)
      const restarted = yield* both
      expect(restarted.status).toEqual(restarted.metrics)
      expect(restarted.status.messages - after.status.messages).toBe(5)
    }).pipe(Effect.timeout("60 seconds"))
  )
})
