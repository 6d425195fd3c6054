/**
 * `Players` on a node without a master (TestCluster runs none): its own players are reached,
 * others fail `PlayersUnavailable` (`NoMaster`), and a login kicks nowhere else. The cluster-wide
 * routing is tested in real processes (players.e2e.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import * as TestCluster from "../src/TestCluster.js"
import PlayersApp, { Login, Tell, Told } from "./fixtures/playersApp.js"

describe("Players without a master", () => {
  it.scopedLive("delivers to a player on this node; another is unreachable, typed", () =>
    Effect.gen(function* () {
      const cluster = yield* TestCluster.make({
        config: { master: { rootport: 9000 }, servers: { front: { name: "front", netport: 9001 } } },
        apps: { front: PlayersApp }
      })
      const alice = yield* cluster.client("front")
      const bob = yield* cluster.client("front")
      expect(yield* alice.call(Login, "alice")).toBe("welcome alice")
      expect(yield* bob.call(Login, "bob")).toBe("welcome bob")
      const told = yield* alice.pushesOf(Told).pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      expect(yield* bob.call(Tell, { to: "alice", text: "hi" })).toEqual({ node: "front" })
      expect([...(yield* Fiber.join(told))]).toEqual(["hi"])
      const elsewhere = yield* Effect.flip(bob.call(Tell, { to: "carol", text: "?" }))
      expect(elsewhere).toMatchObject({ _tag: "PlayersUnavailable", reason: "NoMaster" })
    })
  )
})
