/**
 * The master's dashboard over HTTP (an in-process master with a webport, real sockets): the
 * login (token in a form body, refused when wrong, too large or cross-site), the session cookie's
 * flags, the safe headers on every answer, and the event stream's snapshots.
 */
import * as Os from "node:os"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Logger, LogLevel } from "effect"
import * as HotaruConfig from "../src/HotaruConfig.js"
import * as Master from "../src/Master.js"
import * as Transport from "../src/Transport.js"
import { freePorts } from "./support/ports.js"

const Env = Layer.mergeAll(NodeContext.layer, Transport.layerTcp(), Logger.minimumLogLevel(LogLevel.None))
const token = "dash-token-0123456789"

const startMaster = Effect.gen(function* () {
  const [rootport, webport] = (yield* Effect.promise(() => freePorts(2))) as [number, number]
  const loaded = Either.getOrThrow(
    HotaruConfig.fromObject(
      { master: { rootport, webport }, servers: { "<b>evil</b>": {} } },
      { dir: Os.tmpdir() }
    )
  )
  yield* Master.make({
    config: loaded,
    mode: "in-process",
    token,
    apps: { "<b>evil</b>": Layer.empty }
  }).pipe(Effect.provide(Env))
  return `http://127.0.0.1:${webport}`
})

const form = (base: string, body: string, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    fetch(`${base}/dashboard/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body
    })
  )

describe("dashboard", () => {
  it.scopedLive("logs in with the token in a form body and streams snapshots over SSE", () =>
    Effect.gen(function* () {
      const base = yield* startMaster
      const page = yield* Effect.promise(() => fetch(`${base}/dashboard`))
      expect(page.status).toBe(200)
      expect(yield* Effect.promise(() => page.text())).toContain('action="/dashboard/login"')
      expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'")
      expect(page.headers.get("x-content-type-options")).toBe("nosniff")

      const wrong = yield* form(base, "token=nope")
      expect(wrong.status).toBe(401)
      expect(wrong.headers.get("set-cookie")).toBeNull()
      expect(yield* Effect.promise(() => wrong.text())).toContain("Wrong token.")
      const crossSite = yield* form(base, `token=${token}`, { origin: "https://evil.example" })
      expect(crossSite.status).toBe(403)
      const huge = yield* form(base, `token=${"x".repeat(8000)}`)
      expect(huge.status).toBe(413)
      const unauthorizedEvents = yield* Effect.promise(() => fetch(`${base}/dashboard/events`))
      expect(unauthorizedEvents.status).toBe(401)

      const ok = yield* form(base, `token=${token}`)
      expect(ok.status).toBe(303)
      const cookie = ok.headers.get("set-cookie") ?? ""
      expect(cookie).toMatch(/HttpOnly/)
      expect(cookie).toMatch(/SameSite=Strict/)
      expect(cookie).not.toContain(token)
      const session = cookie.split(";")[0]!

      const signedIn = yield* Effect.promise(() =>
        fetch(`${base}/dashboard`, { headers: { cookie: session } })
      )
      expect(yield* Effect.promise(() => signedIn.text())).toContain('id="nodes"')
      const forged = yield* Effect.promise(() =>
        fetch(`${base}/dashboard/events`, { headers: { cookie: `${session.slice(0, -2)}xx` } })
      )
      expect(forged.status).toBe(401)

      const events = yield* Effect.promise(() =>
        fetch(`${base}/dashboard/events`, { headers: { cookie: session } })
      )
      expect(events.headers.get("content-type")).toContain("text/event-stream")
      const reader = events.body!.getReader()
      let text = ""
      while (!text.includes("\n\ndata: ") || !text.endsWith("\n\n")) {
        const { value } = yield* Effect.promise(() => reader.read())
        text += new TextDecoder().decode(value)
      }
      yield* Effect.promise(() => reader.cancel())
      const doc = JSON.parse(text.split("data: ")[1]!.trim())
      expect(doc.status.nodes.map((n: { name: string }) => n.name)).toEqual(["<b>evil</b>"])
      expect(doc.parents).toEqual({ "<b>evil</b>": [] })

      // the API keeps its bearer token and gets the same headers
      const api = yield* Effect.promise(() => fetch(`${base}/status`, { headers: { cookie: session } }))
      expect(api.status).toBe(401)
      expect(api.headers.get("x-frame-options")).toBe("DENY")
    })
  )

  it.scopedLive(
    "logout from another site is refused; at most 16 event streams, a closed one frees its slot",
    () =>
      Effect.gen(function* () {
        const base = yield* startMaster
        const ok = yield* form(base, `token=${token}`)
        const session = (ok.headers.get("set-cookie") ?? "").split(";")[0]!
        const logout = (headers: Record<string, string>) =>
          Effect.promise(() =>
            fetch(`${base}/dashboard/logout`, {
              method: "POST",
              redirect: "manual",
              headers: { cookie: session, ...headers }
            })
          )
        const forcedOut = yield* logout({ origin: "https://evil.example" })
        expect(forcedOut.status).toBe(403)
        expect(forcedOut.headers.get("set-cookie")).toBeNull()

        // 16 streams that are never read: a 17th is turned away
        const open = () =>
          Effect.promise(() => fetch(`${base}/dashboard/events`, { headers: { cookie: session } }))
        const held: Array<Response> = []
        for (let i = 0; i < 16; i++) {
          const r = yield* open()
          expect(r.status).toBe(200)
          held.push(r)
        }
        expect((yield* open()).status).toBe(503)
        // a client that goes frees its slot (one that stays and never reads is closed by the
        // server after 5 minutes: test/dashboardStream.test.ts, on the TestClock)
        for (const r of held) yield* Effect.promise(() => r.body!.cancel())
        // (the server sees the close a moment later)
        let reopened = yield* open()
        for (let i = 0; reopened.status === 503 && i < 100; i++) {
          yield* Effect.sleep("20 millis")
          reopened = yield* open()
        }
        expect(reopened.status).toBe(200)
        yield* Effect.promise(() => reopened.body!.cancel())

        const sameSite = yield* logout({ origin: base })
        expect(sameSite.status).toBe(303)
        expect(sameSite.headers.get("set-cookie")).toMatch(/Max-Age=0/)
      })
  )
})
