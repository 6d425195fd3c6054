/**
 * Nodes on several hosts, end to end with the real CLI: `hotaru start --only` on 127.0.0.1 and
 * two `hotaru join` host agents on 127.0.0.2 and 127.0.0.3 (other loopback addresses standing for
 * other hosts). The demo topology split three ways: net with the master, gate on .2, game1 on .3;
 * net and game1 reach gate at its configured roothost.
 */

import type { ChildProcess } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import type * as AdminApi from "../src/AdminApi.js"
import { alive } from "./support/child.js"
import { bin, exited, run, startHotaru } from "./support/cli.js"
import { call300, demoConfig, status as demoStatus } from "./support/demo.js"
import { CLUSTER_SECRET } from "./support/secret.js"
import { waitFor } from "./support/wait.js"

/** The demo with its master and gate given hosts (roothost), the cluster secret, a 0600 file. */
const splitConfig = () =>
  demoConfig({
    prefix: "hosts",
    master: { roothost: "127.0.0.1" },
    gate: { roothost: "127.0.0.2" },
    extra: { secret: CLUSTER_SECRET },
    mode: 0o600
  })

const hotaru = startHotaru

/** `hotaru status CONFIG --json`, through the CLI. */
const cliStatus = async (file: string): Promise<AdminApi.StatusReport> =>
  JSON.parse((await run(process.execPath, [bin, "status", file, "--json"], { timeout: 60_000 })).stdout)

/** The admin API's `/status` the CLI prints (polled directly: a CLI run per poll is slow). */
const status = (file: string): Promise<AdminApi.StatusReport> => {
  const { master } = JSON.parse(Fs.readFileSync(file, "utf8")) as { master: { webport: number } }
  return demoStatus(master.webport, Path.dirname(file))
}

const byName = (report: AdminApi.StatusReport) => new Map(report.nodes.map((n) => [n.name, n]))

describe("nodes on several hosts (hotaru start --only, hotaru join)", () => {
  it("shows every node with its host; a dead agent takes only its nodes down, and they come back with it", {
    timeout: 240_000
  }, async () => {
    const { file, netport } = await splitConfig()
    const children: Array<ChildProcess> = []
    const start = (what: string, args: ReadonlyArray<string>) => {
      const child = hotaru(what, args)
      children.push(child)
      return child
    }
    try {
      const master = start("hotaru start", ["start", file, "--only", "net"])
      // before any agent: the master's nodes run, the others wait for their agents
      const alone = await waitFor(
        "the master's status before the agents",
        async () => {
          const s = byName(await status(file))
          return s.get("net")?.state === "running" ? s : undefined
        },
        90_000
      )
      expect(alone.get("gate")).toMatchObject({
        state: "waiting-for-agent",
        host: null,
        pid: null,
        linked: false
      })
      expect(alone.get("game1")).toMatchObject({ state: "waiting-for-agent", host: null })
      const agentGate = start("hotaru join (gate)", ["join", file, "--only", "gate", "--bind", "127.0.0.2"])
      const agentGame = start("hotaru join (game1)", ["join", file, "--only", "game1", "--bind", "127.0.0.3"])

      // net (127.0.0.1) -> gate (127.0.0.2) -> game1 (127.0.0.3)
      const replies = await waitFor("the split demo to answer", () => call300(netport), 120_000)
      expect(replies).toEqual(["netHandle_100 completed", "game1Handle completed"])

      await waitFor(
        "status to show every node linked",
        async () => {
          const s = await status(file)
          return s.nodes.every((n) => n.state === "running" && n.linked) ? s : undefined
        },
        30_000
      )
      const nodes = byName(await cliStatus(file))
      expect([...nodes.keys()].sort()).toEqual(["game1", "gate", "net"])
      expect(nodes.get("net")!.host).toBe("127.0.0.1")
      expect(nodes.get("gate")!.host).toBe("127.0.0.2")
      expect(nodes.get("game1")!.host).toBe("127.0.0.3")
      expect(nodes.get("net")!.parents).toEqual([{ name: "gate", connected: true }])
      expect([...nodes.get("gate")!.children].sort()).toEqual(["game1", "net"])
      const pids = Object.fromEntries([...nodes].map(([name, n]) => [name, n.pid!]))

      // the table has the host column
      const table = await run(process.execPath, [bin, "status", file], { timeout: 60_000 })
      expect(table.stdout).toMatch(/gate\s+127\.0\.0\.2\s+running\s+\d+\s/)
      expect(table.stdout).toMatch(/game1\s+127\.0\.0\.3\s+running\s+\d+\s/)

      // the agent of 127.0.0.2 dies: its node gate goes down, nothing else does
      agentGate.kill("SIGKILL")
      await waitFor("gate to exit with its agent", async () => (alive(pids.gate!) ? undefined : true), 15_000)
      const lost = await waitFor(
        "status to show gate's agent lost",
        async () => {
          const s = byName(await status(file))
          return s.get("gate")?.state === "agent-lost" && s.get("net")?.parents[0]?.connected === false
            ? s
            : undefined
        },
        20_000
      )
      expect(lost.get("gate")).toMatchObject({ host: "127.0.0.2", linked: false, pid: null })
      expect(lost.get("net")).toMatchObject({ state: "running", linked: true, pid: pids.net })
      expect(lost.get("game1")).toMatchObject({ state: "running", linked: true, pid: pids.game1 })
      expect(alive(master.pid!)).toBe(true)
      expect(alive(agentGame.pid!)).toBe(true)

      // the readiness check of a node of that host fails
      const notReady = await run(process.execPath, [bin, "status", file, "--ready", "gate"], {
        timeout: 60_000
      }).then(
        () => undefined,
        (e: { code?: number; stderr?: string }) => e
      )
      expect(notReady?.code).toBe(1)
      expect(notReady?.stderr).toMatch(
        /gate is not ready: agent-lost, not linked to the master \(host 127\.0\.0\.2\)/
      )

      // a restart of a node whose agent is gone fails clearly
      const refused = await run(process.execPath, [bin, "restart", "gate", file], { timeout: 60_000 }).then(
        () => undefined,
        (e: { code?: number; stderr?: string }) => e
      )
      expect(refused?.code).toBe(1)
      expect(refused?.stderr).toMatch(/503.*gate runs on 127\.0\.0\.2, whose agent is not linked/)

      // the agent comes back: gate comes back, net and game1 re-link to it (same processes)
      start("hotaru join (gate, again)", ["join", file, "--only", "gate", "--bind", "127.0.0.2"])
      await waitFor(
        "command 300 to be answered again",
        async () => {
          const r = await call300(netport)
          return r[1] === "game1Handle completed" ? r : undefined
        },
        60_000
      )
      const back = await waitFor(
        "status to show gate back",
        async () => {
          const s = byName(await status(file))
          return [...s.values()].every((n) => n.state === "running" && n.linked) &&
            s.get("net")?.parents[0]?.connected === true
            ? s
            : undefined
        },
        30_000
      )
      expect(back.get("gate")!.host).toBe("127.0.0.2")
      const isReady = await run(process.execPath, [bin, "status", file, "--ready", "gate"], {
        timeout: 60_000
      })
      expect(isReady.stdout).toContain("gate: ready (running on 127.0.0.2, linked)")
      expect(back.get("gate")!.pid).not.toBe(pids.gate)
      expect(back.get("net")!.pid).toBe(pids.net)
      expect(back.get("game1")!.pid).toBe(pids.game1)

      // a restart of a node on another host is done by its agent
      const restarted = await run(process.execPath, [bin, "restart", "game1", file], { timeout: 60_000 })
      expect(restarted.stdout).toContain("game1: restarted")
      const after = await waitFor(
        "game1 to be restarted by its agent",
        async () => {
          const g = byName(await status(file)).get("game1")
          return g?.state === "running" && g.linked && g.pid !== pids.game1 ? g : undefined
        },
        30_000
      )
      expect(after.host).toBe("127.0.0.3")
      await waitFor("command 300 after the restart", () => call300(netport), 30_000)
      const current = [...byName(await status(file)).values()].map((n) => n.pid!)

      // stop: the master stops its nodes and the agents', and everything exits 0
      await run(process.execPath, [bin, "stop", file], { timeout: 90_000 })
      expect(await exited(master)).toBe(0)
      expect(await exited(agentGame)).toBe(0)
      expect(await exited(children[3]!)).toBe(0)
      for (const pid of current) expect(alive(pid), `pid ${pid}`).toBe(false)
    } finally {
      for (const child of children) child.kill("SIGKILL")
    }
  })
})
