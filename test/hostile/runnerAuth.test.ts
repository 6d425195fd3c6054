/**
 * Hostile suite, the cluster's runner port: an @effect/cluster runner of hotaru only talks the
 * cluster protocol after the secret's handshake. A stock cluster client, a client with the wrong
 * secret, garbage bytes and a silent socket reach no entity, and the runner keeps serving the
 * node that holds the secret.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { Entity } from "@effect/cluster"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SocketRunner from "@effect/cluster/SocketRunner"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import { Rpc } from "@effect/rpc"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import * as Db from "../../src/Db.js"
import * as EntitySharding from "../../src/EntitySharding.js"
import { freePort } from "../support/ports.js"

const SECRET = "correct horse battery staple"
const WRONG = "incorrect donkey battery staple"

const Counter = Entity.make("Counter", [Rpc.make("Add", { payload: { n: Schema.Int }, success: Schema.Int })])

describe("runner port against hostile peers", () => {
  it.scopedLive(
    "only a node with the secret reaches an entity; stock clients, a wrong secret, garbage and silence do not",
    () =>
      Effect.gen(function* () {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-runner-auth-"))
        const db = Db.layer({ driver: "sqlite", filename: Path.join(dir, "cluster.sqlite") })
        const port = yield* Effect.promise(freePort)
        const sharding = { prefix: "auth", shardsPerGroup: 4, refreshAssignmentsInterval: 0.2 }
        let calls = 0
        const handlers = Counter.toLayer(
          Effect.sync(() => {
            let total = 0
            return {
              Add: ({ payload }) =>
                Effect.sync(() => {
                  calls++
                  total += payload.n
                  return total
                })
            }
          })
        )
        yield* Layer.build(
          handlers.pipe(
            Layer.provideMerge(
              EntitySharding.layer({
                role: { _tag: "Runner", bind: "127.0.0.1", host: "127.0.0.1", port },
                sharding,
                secret: SECRET,
                helloTimeout: "1 second"
              })
            ),
            Layer.provide(db)
          )
        )
        const clientWith = (secret: string) =>
          Layer.build(
            EntitySharding.layer({ role: { _tag: "Client" }, sharding, secret }).pipe(
              Layer.provide(Layer.fresh(db))
            )
          ).pipe(Effect.flatMap((context) => Effect.provide(Counter.client, context)))

        // the node with the secret: served
        const good = yield* clientWith(SECRET)
        expect(
          yield* EntitySharding.orDieCluster(good("a").Add({ n: 2 })).pipe(Effect.timeout("20 seconds"))
        ).toBe(2)
        const served = calls

        // a wrong secret: the call never reaches the entity
        const wrong = yield* clientWith(WRONG)
        const wrongCall = yield* wrong("a").Add({ n: 100 }).pipe(Effect.timeout("3 seconds"), Effect.option)
        expect(Option.isNone(wrongCall)).toBe(true)

        // a stock @effect/cluster client (the cluster's own socket protocol, no handshake)
        const stock = yield* Layer.build(
          SocketRunner.layerClientOnly.pipe(
            Layer.provide(NodeClusterSocket.layerClientProtocol),
            Layer.provide(SqlMessageStorage.layerWith({ prefix: "auth" })),
            Layer.provide(SqlRunnerStorage.layerWith({ prefix: "auth" })),
            Layer.provide(
              ShardingConfig.layer({ shardsPerGroup: 4, refreshAssignmentsInterval: "200 millis" })
            ),
            Layer.provide(RpcSerialization.layerMsgPack),
            Layer.provide(Layer.fresh(db))
          )
        ).pipe(Effect.flatMap((context) => Effect.provide(Counter.client, context)))
        const stockCall = yield* stock("a").Add({ n: 1000 }).pipe(Effect.timeout("3 seconds"), Effect.option)
        expect(Option.isNone(stockCall)).toBe(true)

        // garbage bytes, then a socket that says nothing: both closed, the second by the deadline
        const closedAfter = (send: Buffer | undefined) =>
          Effect.promise(
            () =>
              new Promise<number>((resolve) => {
                const started = Date.now()
                const socket = Net.connect({ host: "127.0.0.1", port })
                socket.on("error", () => undefined)
                socket.on("data", () => undefined)
                socket.once("connect", () => {
                  if (send !== undefined) socket.write(send)
                })
                socket.once("close", () => resolve(Date.now() - started))
              })
          )
        const garbage = yield* closedAfter(Buffer.alloc(64 * 1024, 0xc1))
        expect(garbage).toBeLessThan(3_000)
        const silent = yield* closedAfter(undefined)
        expect(silent).toBeGreaterThanOrEqual(800)
        expect(silent).toBeLessThan(5_000)

        // nothing from them reached the entity, and the runner still serves the good node
        expect(calls).toBe(served)
        expect(
          yield* EntitySharding.orDieCluster(good("a").Add({ n: 3 })).pipe(Effect.timeout("20 seconds"))
        ).toBe(5)
        expect(calls).toBe(served + 1)
      }),
    { timeout: 90_000 }
  )
})
