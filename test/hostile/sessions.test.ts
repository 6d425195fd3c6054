/**
 * Hostile suite, sessions: one uid logged in from many connections at once, TCP and WebSocket
 * mixed. Under `kick` the newest wins and every other is closed; under `refuse` exactly one is
 * bound and every other gets `SessionRefused` `InUse`, typed; either way the node keeps serving
 * and the uid ends bound to one live connection.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Client from "../../src/Client.js"
import * as NetServer from "../../src/NetServer.js"
import * as Session from "../../src/Session.js"
import { Login, sessionHandlers, WhoAmI } from "../support/sessionCommands.js"

const app = sessionHandlers

const serve = (duplicateLogin: Session.DuplicatePolicy) =>
  NetServer.serve(app, {
    host: "127.0.0.1",
    port: 0,
    webSocket: { host: "127.0.0.1", port: 0 },
    duplicateLogin
  })

/** `n` connections, every other one over WebSocket. */
const connections = (n: number) =>
  Effect.flatMap(NetServer.NetServer, (s) =>
    Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) =>
        i % 2 === 0
          ? Client.connect({ host: "127.0.0.1", port: s.addresses.tcp!.port, timeout: "5 seconds" })
          : Client.connectWebSocket({
              url: `ws://127.0.0.1:${s.addresses.webSocket!.port}/`,
              timeout: "5 seconds"
            }),
      { concurrency: 16 }
    )
  )

/** Who the node thinks has `uid`, asked over a fresh connection that binds nothing. */
const holders = (clients: ReadonlyArray<Client.Client>) =>
  Effect.map(
    Effect.forEach(clients, (c) => Effect.either(c.call(WhoAmI, "")), { concurrency: "unbounded" }),
    (answers) => answers.filter((a) => Either.isRight(a) && a.right === "mallory").length
  )

describe("hostile: one uid bound from many connections at once", () => {
  it.scopedLive('"refuse": exactly one is bound, every other is refused InUse, typed', () =>
    Effect.gen(function* () {
      const clients = yield* connections(40)
      const results = yield* Effect.forEach(clients, (c) => Effect.either(c.call(Login, "mallory")), {
        concurrency: "unbounded"
      })
      const bound = results.filter(Either.isRight)
      const refused = results.filter(Either.isLeft).map((r) => r.left)
      expect(bound.length).toBe(1)
      expect(refused.length).toBe(39)
      for (const e of refused)
        expect(e).toMatchObject({ _tag: "SessionRefused", reason: "InUse", uid: "mallory" })
      expect(yield* holders(clients)).toBe(1)
      // the node serves on: a new player logs in
      const [fresh] = yield* connections(1)
      expect(yield* fresh!.call(Login, "alice")).toBe("welcome alice")
    }).pipe(Effect.provide(serve("refuse")))
  )

  it.scopedLive('"kick": one connection ends bound, every other is closed; the node serves on', () =>
    Effect.gen(function* () {
      const clients = yield* connections(40)
      yield* Effect.forEach(clients, (c) => Effect.either(c.call(Login, "mallory")), {
        concurrency: "unbounded"
      })
      // the kicked ones close; one stays, bound
      const open = yield* Effect.filter(clients, (c) =>
        Effect.map(Effect.either(c.call(WhoAmI, "", { timeout: "2 seconds" })), Either.isRight)
      )
      expect(open.length).toBe(1)
      expect(yield* holders(open)).toBe(1)
      const [fresh] = yield* connections(1)
      expect(yield* fresh!.call(Login, "alice")).toBe("welcome alice")
    }).pipe(Effect.provide(serve("kick")))
  )
})
