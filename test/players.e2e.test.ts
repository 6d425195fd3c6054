/**
 * Players across two front nodes in real processes (`hotaru start`, a master and two fronts that
 * share no link but the master): a push to a player reaches it on the other front; a player on no
 * front is `PlayerOffline`, typed; a second login on the other front closes the first; a kick
 * reaches the player wherever it is; a player whose network drops resumes its session on its front
 * and gets, once and in order, what the other front pushed to it meanwhile; a channel with
 * members on both fronts gets a push from either, once each.
 */
import { Effect, Fiber, Option, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { Heard, JoinLobby, KickEverywhere, Lobby, Login, Shout, Tell, Told } from "./fixtures/playersApp.js"
import { connect, frontsLogIn, reconnectingPlayer, withFronts } from "./support/playersFronts.js"
import { proxy } from "./support/proxy.js"

/**
 * carol plays on front1 (resume on) through a proxy that cuts her network; dave on front2 tells
 * her three things while she is away: she comes back without logging in again (`Resumed`) and
 * gets all three, in order, once, then the next one live.
 */
const resumeAcrossFronts = (front1: number, front2: number) =>
  Effect.gen(function* () {
    const net = yield* proxy(front1)
    const { events, told } = yield* reconnectingPlayer([connect(net.port)], "carol", 4)
    const dave = yield* connect(front2)
    expect(yield* dave.call(Login, "dave")).toBe("welcome dave")
    expect(net.drop()).toBeGreaterThan(0)
    for (const text of ["one", "two", "three"]) {
      // parked on front1: delivered into the session's buffer
      expect(yield* dave.call(Tell, { to: "carol", text })).toEqual({ node: "front1" })
    }
    expect([...(yield* Fiber.join(events).pipe(Effect.timeout("15 seconds")))]).toEqual([
      "Connected",
      "Disconnected",
      "Resumed"
    ])
    expect(yield* dave.call(Tell, { to: "carol", text: "four" })).toEqual({ node: "front1" })
    expect([...(yield* Fiber.join(told).pipe(Effect.timeout("10 seconds")))]).toEqual([
      "one",
      "two",
      "three",
      "four"
    ])
  })

/** A channel with members on both fronts: listed from either, a shout from either reaches all of them, once. */
const channelAcrossFronts = (front1: number, front2: number) =>
  Effect.gen(function* () {
    const [a, b, c] = yield* Effect.all([connect(front1), connect(front1), connect(front2)])
    const outsider = yield* connect(front2)
    for (const member of [a!, b!, c!]) expect(yield* member.call(JoinLobby, "")).toBe("joined")
    // its members, listed from either front: per node, how many, and the players bound among them
    expect(yield* a!.call(Login, "ann")).toBe("welcome ann")
    expect(yield* c!.call(Login, "cleo")).toBe("welcome cleo")
    const front1Members = { node: "front1", count: 2, uids: ["ann"] }
    const front2Members = { node: "front2", count: 1, uids: ["cleo"] }
    expect(yield* c!.call(Lobby, null)).toEqual([front2Members, front1Members])
    expect(yield* b!.call(Lobby, null)).toEqual([front1Members, front2Members])
    const heard = yield* Effect.forEach([a!, b!, c!], (m) =>
      m.pushesOf(Heard).pipe(Stream.take(2), Stream.runCollect, Effect.fork)
    )
    const outsiderHeard = yield* outsider
      .pushesOf(Heard)
      .pipe(Stream.take(1), Stream.runCollect, Effect.timeout("1 second"), Effect.option, Effect.fork)
    // from front2 (one member here, two on front1), then from front1
    expect(yield* c!.call(Shout, "from front2")).toBe(3)
    expect(yield* a!.call(Shout, "from front1")).toBe(3)
    for (const f of heard) {
      expect([...(yield* Fiber.join(f).pipe(Effect.timeout("10 seconds")))]).toEqual([
        "from front2",
        "from front1"
      ])
    }
    // a connection not in the channel hears nothing
    expect(Option.isNone(yield* Fiber.join(outsiderHeard))).toBe(true)
  })

describe("Players across two fronts (real processes)", () => {
  it(
    "push and kick by uid reach the other front; one login per uid; offline is typed; resume",
    {
      timeout: 120_000
    },
    () =>
      withFronts(
        "players",
        { front1: { resume: { window: 30 } }, supervisor: { graceSeconds: 2 } },
        async ({ front1, front2 }) => {
          // both fronts up, and each reaches the master: a login routes a kick through it
          await frontsLogIn([front1, front2].map((port) => [port, `probe${port}`] as const))
          await Effect.runPromise(
            Effect.scoped(
              Effect.gen(function* () {
                const alice = yield* connect(front1)
                const bob = yield* connect(front2)
                expect(yield* alice.call(Login, "alice")).toBe("welcome alice")
                expect(yield* bob.call(Login, "bob")).toBe("welcome bob")

                const toAlice = yield* alice
                  .pushesOf(Told)
                  .pipe(Stream.take(1), Stream.runCollect, Effect.fork)
                expect(yield* bob.call(Tell, { to: "alice", text: "hi alice" })).toEqual({ node: "front1" })
                expect([...(yield* Fiber.join(toAlice))]).toEqual(["hi alice"])
                expect(yield* alice.call(Tell, { to: "bob", text: "hi bob" })).toEqual({ node: "front2" })
                // a player on this very front: delivered without the master
                expect(yield* alice.call(Tell, { to: "alice", text: "me" })).toEqual({ node: "front1" })

                const offline = yield* Effect.flip(bob.call(Tell, { to: "carol", text: "anyone?" }))
                expect(offline).toMatchObject({ _tag: "PlayerOffline", uid: "carol" })
                // an id no session can have (the link bounds ids): offline, not a broken call
                const huge = yield* Effect.flip(bob.call(Tell, { to: "x".repeat(10_000), text: "?" }))
                expect(huge).toMatchObject({ _tag: "PlayerOffline" })

                // alice logs in on the other front: her first connection is closed
                const again = yield* connect(front2)
                expect(yield* again.call(Login, "alice")).toBe("welcome alice")
                yield* alice.closed.pipe(Effect.timeout("10 seconds"))
                expect(yield* bob.call(Tell, { to: "alice", text: "moved?" })).toEqual({ node: "front2" })

                // a kick from front1 reaches bob on front2
                const watcher = yield* connect(front1)
                expect(yield* watcher.call(KickEverywhere, "bob")).toEqual(["front2"])
                yield* bob.closed.pipe(Effect.timeout("10 seconds"))
                const gone = yield* Effect.flip(watcher.call(Tell, { to: "bob", text: "bye" }))
                expect(gone).toMatchObject({ _tag: "PlayerOffline", uid: "bob" })
              })
            )
          )
          await Effect.runPromise(Effect.scoped(resumeAcrossFronts(front1, front2)))
          await Effect.runPromise(Effect.scoped(channelAcrossFronts(front1, front2)))
        }
      )
  )
})
