/**
 * The master end to end: the real CLI, real processes, real sockets.
 */

import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import type * as Master from "../src/Master.js"
import { alive } from "./support/child.js"
import { bin, exited, repo, run, startHotaru } from "./support/cli.js"
import { adminToken, call300, demoApp, demoConfig, status } from "./support/demo.js"
import { reachable } from "./support/ports.js"
import { waitFor } from "./support/wait.js"

/** The demo on free ports in a fresh `hotaru-master-` directory; `extra` top-level keys added. */
const masterDemo = (extra: Record<string, unknown> = {}) => demoConfig({ prefix: "master", extra })

const startMaster = (file: string, args: ReadonlyArray<string> = []): ChildProcess =>
  startHotaru("hotaru start", ["start", file, ...args])

describe("master (process mode): signals and frozen nodes", () => {
  // one cluster for both: a frozen node is replaced, then SIGTERM stops every node, exit 0
  it("a node that stops answering heartbeats is killed and restarted; SIGTERM to the master then stops every node and exits 0", {
    timeout: 150_000
  }, async () => {
    // links that call a peer frozen after 2 s of silence (default 6 s): the master's grace follows
    const { dir, file, netport, webport } = await masterDemo({ heartbeat: { interval: 0.5, timeout: 2 } })
    const master = startMaster(file)
    try {
      await waitFor("the demo to answer", () => call300(netport), 90_000)
      const game1 = (await status(webport, dir)).nodes.find((n) => n.name === "game1")!
      const frozenAt = Date.now()
      process.kill(game1.pid!, "SIGSTOP") // frozen: no FIN, no heartbeat
      const after = await waitFor(
        "the frozen node to be replaced",
        async () => {
          const g = (await status(webport, dir)).nodes.find((n) => n.name === "game1")
          return g?.restarts === 1 && g.state === "running" ? g : undefined
        },
        40_000
      )
      expect(after.pid).not.toBe(game1.pid)
      expect(after.lastExit).toMatch(/heartbeat/)
      console.log(`master e2e: the frozen node replaced ${Date.now() - frozenAt} ms after its SIGSTOP`)
      await waitFor(
        "the frozen process to be gone",
        async () => (alive(game1.pid!) ? undefined : true),
        10_000
      )
      await waitFor("command 300 to be answered again", () => call300(netport), 30_000)

      const pids = (await status(webport, dir)).nodes.map((n) => n.pid!)
      master.kill("SIGTERM")
      expect(await exited(master)).toBe(0)
      for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false)
    } finally {
      master.kill("SIGKILL")
    }
  })
})

describe("master with the user's own node entry file", () => {
  // one cluster for both: the entry file's nodes, then a SIGKILLed master (no goodbye) whose
  // nodes notice the lost link and exit by themselves
  it("spawns every node through the entry file; nodes exit by themselves when the master is SIGKILLed", {
    timeout: 150_000
  }, async () => {
    const { dir, file, netport, webport } = await masterDemo()
    const master = spawn(
      process.execPath,
      [bin, "start", file, "--entry", Path.join(repo, "test/fixtures/appmain.ts")],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, HOTARU_LOG: "warning" }
      }
    )
    let output = ""
    master.stdout?.on("data", (chunk) => {
      output += String(chunk)
    })
    master.stderr?.resume()
    try {
      await waitFor("the demo to answer", () => call300(netport), 90_000)
      for (const name of ["gate", "net", "game1"])
        expect(output).toContain(`[${name}] appmain: setting up ${name}`)
      const pids = (await status(webport, dir)).nodes.map((n) => n.pid!)
      expect(pids.every(alive)).toBe(true)
      master.kill("SIGKILL")
      await waitFor("every node to exit", async () => (pids.some(alive) ? undefined : true), 15_000)
    } finally {
      master.kill("SIGKILL")
    }
  })
})

describe("master (in-process mode)", () => {
  // this one runs the checkout's sources through tsx, as `npm start` does (the suite's other
  // processes run the built dist/: HOTARU_RUN_DIST)
  it("runs the same topology with the same behaviour, from the sources", { timeout: 150_000 }, async () => {
    const { dir, file, netport, webport } = await masterDemo({ adminToken: "s3cret" })
    const master = startHotaru("hotaru start", ["start", file, "--in-process"], { HOTARU_RUN_DIST: "" })
    try {
      const replies = await waitFor("the demo to answer", () => call300(netport), 90_000)
      expect(replies).toEqual(["netHandle_100 completed", "game1Handle completed"])
      const report = await status(webport, dir)
      expect(report.master.mode).toBe("in-process")
      expect(report.nodes.every((n) => n.pid === master.pid && n.state === "running")).toBe(true)
      const stop = await fetch(`http://127.0.0.1:${webport}/stop`, {
        method: "POST",
        headers: { authorization: "Bearer s3cret" }
      })
      expect(stop.status).toBe(200)
      expect(await exited(master)).toBe(0)
    } finally {
      master.kill("SIGKILL")
    }
  })
})

/** The local address of a listening TCP socket on `port`, from /proc/net/tcp (Linux). */
const listeningAddress = (port: number): string | undefined => {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0")
  for (const line of Fs.readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/)
    const [address, portHex] = (fields[1] ?? "").split(":")
    if (portHex === hexPort && fields[3] === "0A" && address !== undefined) {
      const bytes = address.match(/../g)!.map((b) => Number.parseInt(b, 16))
      return bytes.reverse().join(".")
    }
  }
  return undefined
}

describe("master (process mode, through the CLI)", () => {
  // one cluster for the lot (each boot of the demo's three processes is seconds of CPU)
  it("restarts a SIGKILLed node from the validated snapshot (a half-edited config.json is ignored, reload refuses it); status, reload, restart NAME; admin on 127.0.0.1 behind the token; stop ends the tree", {
    timeout: 150_000
  }, async () => {
    const { dir, file, netport, webport } = await masterDemo()
    const original = Fs.readFileSync(file, "utf8")
    const master = startMaster(file)
    try {
      const replies = await waitFor("the demo to answer", () => call300(netport), 90_000)
      expect(replies).toEqual(["netHandle_100 completed", "game1Handle completed"])

      // the admin web listens on loopback only, and every endpoint needs the token
      expect(listeningAddress(webport)).toBe("127.0.0.1")
      const other = Object.values(Os.networkInterfaces())
        .flat()
        .find((i) => i !== undefined && i.family === "IPv4" && !i.internal)?.address
      if (other !== undefined) expect(await reachable(other, webport)).toBe(false)
      expect((await fetch(`http://127.0.0.1:${webport}/status`)).status).toBe(401)
      expect((await fetch(`http://127.0.0.1:${webport}/stop`, { method: "POST" })).status).toBe(401)
      const tokenStat = Fs.statSync(Path.join(dir, ".hotaru-admin-token"))
      expect(tokenStat.mode & 0o777).toBe(0o600)
      const snapshots = Fs.readdirSync(dir).filter((f) => f.startsWith(".hotaru-config-"))
      expect(snapshots).toHaveLength(1)
      expect(Fs.statSync(Path.join(dir, snapshots[0]!)).mode & 0o777).toBe(0o600)

      const before = await status(webport, dir)
      const pidOf = (s: Master.StatusReport, name: string) => s.nodes.find((n) => n.name === name)!.pid!
      expect(before.nodes.map((n) => n.state)).toEqual(["running", "running", "running"])
      expect(before.nodes.find((n) => n.name === "game1")!.restarts).toBe(0)

      // a half-written config.json: reload is refused, nothing touched
      Fs.writeFileSync(file, original.slice(0, Math.floor(original.length / 2)))
      const reload = await fetch(`http://127.0.0.1:${webport}/reload`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken(dir)}` }
      })
      expect(reload.status).toBe(409)
      expect(((await reload.json()) as { message: string }).message).toContain("not valid JSON")
      const untouched = await status(webport, dir)
      expect(untouched.nodes.map((n) => [n.pid, n.reloads])).toEqual(before.nodes.map((n) => [n.pid, 0]))

      // a SIGKILLed node is restarted, and runs the snapshot the master validated, not the broken file
      process.kill(pidOf(before, "game1"), "SIGKILL")
      const killedAt = Date.now()
      await waitFor(
        "command 300 to be answered again",
        async () => ((await call300(netport))[1] === "game1Handle completed" ? true : undefined),
        30_000
      )
      // a restart is a new process importing the app (2-3 s of CPU): on a loaded 2-core CI
      // machine that alone can take ten seconds; the bench measures the quiet-machine figure
      expect(Date.now() - killedAt).toBeLessThan(30_000)
      const restarted = await waitFor(
        "status to show game1's restart",
        async () => {
          const g = (await status(webport, dir)).nodes.find((n) => n.name === "game1")!
          return g.restarts === 1 && g.state === "running" && g.pid !== pidOf(before, "game1") ? g : undefined
        },
        20_000
      )
      expect(restarted.linked).toBe(true)

      // the file whole again (the CLI reads it): the readable table and the JSON document
      Fs.writeFileSync(file, original)
      const table = await run(process.execPath, [bin, "status", file])
      expect(table.stdout).toMatch(/game1\s+127\.0\.0\.1\s+running\s+\d+\s+1\s/)
      const json = JSON.parse((await run(process.execPath, [bin, "status", file, "--json"])).stdout)
      expect(json.nodes).toHaveLength(3)

      // every node re-imports its app and swaps its handlers; clients keep being served
      const reloaded = await run(process.execPath, [bin, "reload", file], { timeout: 60_000 })
      expect(reloaded.stdout.trim().split("\n").sort()).toEqual([
        `game1: reloaded ${Path.join(demoApp, "game1server.ts")}`,
        `gate: reloaded ${Path.join(demoApp, "gateserver.ts")}`,
        `net: reloaded ${Path.join(demoApp, "netserver.ts")}`
      ])
      expect(await call300(netport)).toEqual(["netHandle_100 completed", "game1Handle completed"])

      // hotaru restart NAME: a new process now, its restart count reset
      const out = await run(process.execPath, [bin, "restart", "game1", file], { timeout: 60_000 })
      expect(out.stdout).toContain("game1: restarted")
      const reset = await waitFor(
        "game1 to run again after hotaru restart",
        async () => {
          const g = (await status(webport, dir)).nodes.find((n) => n.name === "game1")!
          return g.state === "running" && g.pid !== restarted.pid ? g : undefined
        },
        20_000
      )
      expect(reset.restarts).toBe(0)
      await waitFor("command 300 after the restart", () => call300(netport), 30_000)
      const unknown = await run(process.execPath, [bin, "restart", "nope", file]).catch(
        (e: { stderr: string }) => e
      )
      expect(String((unknown as { stderr?: string }).stderr ?? "")).toContain("404")

      // hotaru stop: every process gone, the master's files removed, exit 0
      const pids = [...before.nodes.map((n) => n.pid!), restarted.pid!, reset.pid!, master.pid!]
      await run(process.execPath, [bin, "stop", file], { timeout: 60_000 })
      expect(await exited(master)).toBe(0)
      for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false)
      expect(Fs.readdirSync(dir).filter((f) => f.startsWith(".hotaru-"))).toEqual([])
    } finally {
      master.kill("SIGKILL")
    }
  })
})

describe("master (process mode): supervisor.onFailed", () => {
  it('"retry" (default): a failed node is shown failed-retrying and tried again later; the master stays up', {
    timeout: 150_000
  }, async () => {
    const { dir, file, webport } = await masterDemo()
    const bad = Path.join(dir, "bad.ts")
    Fs.writeFileSync(bad, 'throw new Error("this app cannot start")\n')
    const config = JSON.parse(Fs.readFileSync(file, "utf8"))
    config.servers = { bad: { name: "bad", app: bad } }
    config.supervisor = { graceSeconds: 2, maxRestarts: 0, retrySeconds: 1, retryMaxSeconds: 2 }
    Fs.writeFileSync(file, JSON.stringify(config))
    const master = startMaster(file)
    try {
      const failed = await waitFor(
        "bad to be failed-retrying",
        async () => {
          const node = (await status(webport, dir)).nodes[0]!
          return node.state === "failed-retrying" ? node : undefined
        },
        60_000
      )
      expect(failed.lastExit).toMatch(/exited with code 1/)
      await waitFor(
        "bad to be retried",
        async () => ((await status(webport, dir)).nodes[0]!.restarts >= 2 ? true : undefined),
        60_000
      )
      expect(master.exitCode).toBeNull()
      master.kill("SIGTERM")
      expect(await exited(master)).toBe(0)
    } finally {
      master.kill("SIGKILL")
    }
  })

  it('"exit": a node that keeps failing stops the tree and the master exits non-zero', {
    timeout: 150_000
  }, async () => {
    const { dir, file } = await masterDemo({
      supervisor: { graceSeconds: 2, maxRestarts: 1, onFailed: "exit" }
    })
    const bad = Path.join(dir, "bad.ts")
    Fs.writeFileSync(bad, 'throw new Error("this app cannot start")\n')
    const config = JSON.parse(Fs.readFileSync(file, "utf8"))
    config.servers.bad = { name: "bad", app: bad }
    Fs.writeFileSync(file, JSON.stringify(config))
    const master = startMaster(file)
    try {
      const started = Date.now()
      const code = await exited(master)
      expect(code).not.toBe(0)
      expect(code).not.toBeNull()
      expect(Date.now() - started).toBeLessThan(120_000)
    } finally {
      master.kill("SIGKILL")
    }
  })
})
