/**
 * The tap game in real headless Chromium (Debian's, through playwright-core): the front serves the
 * page and its bundled typed client on `webport`; two players play over `wsport`; the network of
 * one drops (a TCP proxy between it and the wsport cuts every socket) and it comes back by itself
 * and plays on. A screenshot lands in docs/.
 */
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect } from "effect"
import type { Page } from "playwright-core"
import * as NetServer from "../../src/NetServer.js"
import * as TestCluster from "../../src/TestCluster.js"
import * as Web from "../../src/Web.js"
import { launch } from "../../test/support/browser.js"
import { freePorts } from "../../test/support/ports.js"
import { proxy } from "../../test/support/proxy.js"

const dir = import.meta.dirname
const repo = Path.resolve(dir, "../..")

const join = async (page: Page, url: string, name: string) => {
  await page.goto(url)
  await page.fill("#name", name)
  await page.click("button[type=submit]")
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 10_000 })
}

const taps = (page: Page, name: string) =>
  page.evaluate(
    (n) =>
      Array.from(document.querySelectorAll("#board tr"))
        .map((r) => Array.from(r.querySelectorAll("td")).map((c) => c.textContent))
        .find(([player]) => player === n)?.[1] ?? null,
    name
  )

const waitTaps = (page: Page, name: string, count: number) =>
  page.waitForFunction(
    ([n, c]) =>
      Array.from(document.querySelectorAll("#board tr")).some(
        (r) => r.children[0]?.textContent === n && r.children[1]?.textContent === String(c)
      ),
    [name, count] as const,
    { timeout: 10_000 }
  )

describe("browser example in Chromium", () => {
  it.scopedLive(
    "two players tap over WebSocket; one's network drops, it resumes its session by itself and plays on",
    () =>
      Effect.gen(function* () {
        const [rootport, masterweb, wsport, webport] = (yield* Effect.promise(() => freePorts(4))) as [
          number,
          number,
          number,
          number
        ]
        const cluster = yield* TestCluster.make({
          config: {
            master: { rootport, webport: masterweb },
            servers: { front: { name: "front", wsport, webport, resume: { window: 30 }, app: "./front.ts" } }
          },
          dir
        })
        // the test cluster binds the node's listeners to free ports: where they are
        const front = yield* cluster.node("front").context
        const ws = Context.get(front, NetServer.NetServer).addresses.webSocket!.port
        const site = `${Context.get(front, Web.WebAddress).url}/`
        const net = yield* proxy(ws)
        const browser = yield* launch
        const [alice, bob] = yield* Effect.promise(() =>
          Promise.all([1, 2].map(() => browser.newPage({ viewport: { width: 800, height: 600 } })))
        ) as Effect.Effect<[Page, Page]>
        yield* Effect.promise(async () => {
          // alice through the proxy (her network can drop), bob straight to the wsport
          await join(alice, `${site}?ws=ws://127.0.0.1:${net.port}/`, "alice")
          await join(bob, `${site}?ws=ws://127.0.0.1:${ws}/`, "bob")
          for (let i = 0; i < 3; i++) await alice.click("#tap")
          await bob.click("#tap")
          // each sees both players' taps: the board is a push to the channel both joined
          await waitTaps(alice, "bob", 1)
          await waitTaps(bob, "alice", 3)

          expect(net.drop()).toBeGreaterThan(0)
          await alice.waitForSelector('#status[data-state="disconnected"]', { timeout: 10_000 })
          await bob.click("#tap") // while alice is away
          await alice.waitForSelector('#status[data-state="connected"]', { timeout: 10_000 })
          expect(await alice.textContent("#status")).toBe("resumed (#2)")
          // back without joining again: the board push she missed while away is replayed, and her
          // taps count on from 3
          await waitTaps(alice, "bob", 2)
          await alice.click("#tap")
          await waitTaps(alice, "alice", 4)
          await waitTaps(bob, "alice", 4)
          expect(await taps(bob, "bob")).toBe("2")
          expect(await alice.textContent("#log")).toContain("Disconnected #1")
          expect(await alice.textContent("#log")).toContain("Resumed #2")
          await alice.screenshot({ path: Path.join(repo, "docs/browser-example.png") })
        })
      }),
    60_000
  )
})
