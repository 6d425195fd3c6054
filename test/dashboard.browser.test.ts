/**
 * The master's dashboard in real headless Chromium (Debian's, through playwright-core) over a
 * real multi-process cluster (`hotaru start`, imports dist/: run `npm run build`): a wrong token
 * is refused, the right one shows every node; a SIGKILLed node's row turns red, then green again
 * once the supervisor has restarted it. Screenshots land in docs/ (README shows one).
 */
import * as Net from "node:net"
import * as Path from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { launch } from "./support/browser.js"
import { exited, repo, startHotaru } from "./support/cli.js"
import { adminToken, status, writeConfig } from "./support/demo.js"
import { freePorts } from "./support/ports.js"
import { waitFor } from "./support/wait.js"

const app = Path.join(repo, "test/fixtures/jobsApp.mjs")

const cluster = async () => {
  const [rootport, webport, gateport, netport] = (await freePorts(4)) as [number, number, number, number]
  const toGate = [{ rootport: gateport, rootname: "gate" }]
  const config = {
    master: { rootport, webport },
    servers: {
      gate: { name: "gate", rootport: gateport, app },
      net: { name: "net", netport, remoteport: toGate, app },
      game1: { name: "game1", remoteport: toGate, app }
    },
    supervisor: { graceSeconds: 2 }
  }
  return { ...writeConfig("dashboard", config), webport, netport }
}

describe("dashboard in Chromium", () => {
  it("shows every node, a killed node red, then green again after its restart", {
    timeout: 90_000
  }, async () => {
    const { dir, file, webport, netport } = await cluster()
    const master = startHotaru("hotaru start", ["start", file])
    const client = new Net.Socket()
    try {
      const first = await waitFor(
        "every node to run",
        async () => {
          const s = await status(webport, dir)
          return s.nodes.length === 3 && s.nodes.every((n) => n.state === "running" && n.linked)
            ? s
            : undefined
        },
        30_000
      )
      await new Promise<void>((resolve) => client.connect(netport, "127.0.0.1", resolve))
      await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const browser = yield* launch
            const page = yield* Effect.promise(() =>
              browser.newPage({ viewport: { width: 1280, height: 720 } })
            )
            const url = `http://127.0.0.1:${webport}/dashboard`
            yield* Effect.promise(async () => {
              await page.goto(url)
              // a wrong token: refused, no session
              await page.fill("#token", "not-the-token")
              const [refused] = await Promise.all([
                page.waitForResponse((r) => r.url().endsWith("/dashboard/login")),
                page.click("button[type=submit]")
              ])
              expect(refused.status()).toBe(401)
              expect(await page.textContent("#error")).toBe("Wrong token.")
              expect((await page.context().cookies()).length).toBe(0)

              await page.fill("#token", adminToken(dir))
              await page.click("button[type=submit]")
              for (const name of ["gate", "net", "game1"]) {
                await page.waitForSelector(`tr[data-node="${name}"].state-ok`, { timeout: 10_000 })
              }
              // the token is in no URL and no script can read the session
              expect(page.url()).toBe(url)
              expect(await page.evaluate("document.cookie")).toBe("")
              await page.waitForSelector('tr[data-job="gate/heartbeat"]')
              await page.waitForFunction(
                'document.querySelector(\'tr[data-node="net"] td:nth-child(8)\')?.textContent === "1"'
              )
              await page.screenshot({ path: Path.join(repo, "docs/dashboard.png"), fullPage: true })

              const game1 = first.nodes.find((n) => n.name === "game1")!
              process.kill(game1.pid!, "SIGKILL")
              await page.waitForSelector('tr[data-node="game1"].state-bad', { timeout: 10_000 })
              await page.screenshot({
                path: Path.join(repo, "docs/dashboard-restarting.png"),
                fullPage: true
              })
              await page.waitForSelector('tr[data-node="game1"].state-ok', { timeout: 20_000 })
              const restarts = await page.textContent('tr[data-node="game1"] td:nth-child(5)')
              expect(restarts).toBe("1")
              expect(await page.textContent("#events")).toContain("game1")

              // Sign out (a same-origin form post): back to the login page, the session gone
              await page.click("text=Sign out")
              await page.waitForSelector("#token")
              expect((await page.context().cookies()).length).toBe(0)
            })
          })
        )
      )
      master.kill("SIGTERM")
      expect(await exited(master)).toBe(0)
    } finally {
      client.destroy()
      master.kill("SIGKILL")
    }
  })
})
