/**
 * Metrics and structured logs of a real cluster: the CLI's master and its node processes, the
 * master's `/metrics` (every node's samples, aggregated over the admin link) and a node's own
 * `/metrics` on its webport, both parsed strictly; every line printed under
 * `HOTARU_LOG_FORMAT=json` is one JSON record.
 */

import { spawn } from "node:child_process"
import { describe, expect, it } from "@effect/vitest"
import { bin, exited, run } from "./support/cli.js"
import { adminToken, call300, demoConfig, status } from "./support/demo.js"
import { freePorts } from "./support/ports.js"
import { type Family, parse, sampleValue } from "./support/prometheus.js"
import { waitFor } from "./support/wait.js"

const scrape = async (port: number, token: string | undefined): Promise<ReadonlyMap<string, Family>> => {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` }
  })
  if (response.status !== 200) throw new Error(`/metrics: HTTP ${response.status}`)
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/)
  return parse(await response.text())
}

const scrapeStatus = async (port: number, token?: string) =>
  (
    await fetch(
      `http://127.0.0.1:${port}/metrics`,
      token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }
    )
  ).status

describe("metrics of a real cluster (process mode, through the CLI)", () => {
  it("the master's /metrics has every node's counters, which move; a node's webport serves its own; logs are JSON lines", {
    timeout: 150_000
  }, async () => {
    const [gateweb] = (await freePorts(1)) as [number]
    const { dir, file, netport, webport } = await demoConfig({
      prefix: "metrics",
      gate: { webport: gateweb }
    })
    const master = spawn(process.execPath, [bin, "start", file], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, HOTARU_LOG: "info", HOTARU_LOG_FORMAT: "json" }
    })
    const lines: Array<string> = []
    const collect = (chunk: Buffer) => lines.push(...chunk.toString().split("\n"))
    let pending = ""
    const splitter = (chunk: Buffer) => {
      const text = pending + chunk.toString()
      const parts = text.split("\n")
      pending = parts.pop()!
      collect(Buffer.from(parts.join("\n")))
    }
    master.stdout.on("data", splitter)
    master.stderr.on("data", splitter)
    try {
      await waitFor("the demo to answer", () => call300(netport), 90_000)
      const token = adminToken(dir)
      const n = 5
      for (let i = 0; i < n; i++) await call300(netport)

      expect(await scrapeStatus(webport)).toBe(401)
      expect(await scrapeStatus(webport, "wrong")).toBe(401)
      const first = await scrape(webport, token)
      // every node answered, and each node's samples carry its name
      for (const node of ["gate", "net", "game1"]) {
        expect(sampleValue(first, "hotaru_scrape_ok", { node }), node).toBe(1)
      }
      // n+1 client connections (and their commands) went through net's edge
      expect(
        sampleValue(first, "hotaru_edge_events_total", { node: "net", event: "accepted" })
      ).toBeGreaterThanOrEqual(n + 1)
      expect(sampleValue(first, "hotaru_link_up", { node: "net", peer: "gate", side: "parent" })).toBe(1)
      expect(sampleValue(first, "hotaru_link_up", { node: "gate", peer: "game1", side: "child" })).toBe(1)
      expect(sampleValue(first, "hotaru_supervisor_restarts_total", { node: "game1" })).toBe(0)
      expect(sampleValue(first, "hotaru_supervisor_node_state", { node: "game1", state: "running" })).toBe(1)
      // /status's counters are read from the same metrics (no traffic since the scrape)
      const net = (await status(webport, dir)).nodes.find((x) => x.name === "net")!
      expect(net.messages).toBe(
        sampleValue(first, "hotaru_edge_events_total", { node: "net", event: "requests" })
      )
      expect(net.messages).toBeGreaterThanOrEqual(2 * n)

      // a SIGKILLed node: its restart is counted, gate saw its link drop
      const game1 = (await status(webport, dir)).nodes.find((x) => x.name === "game1")!
      process.kill(game1.pid!, "SIGKILL")
      const after = await waitFor(
        "the restart in /metrics",
        async () => {
          const f = await scrape(webport, token)
          return sampleValue(f, "hotaru_supervisor_restarts_total", { node: "game1" }) === 1 &&
            sampleValue(f, "hotaru_supervisor_node_state", { node: "game1", state: "running" }) === 1 &&
            sampleValue(f, "hotaru_scrape_ok", { node: "game1" }) === 1
            ? f
            : undefined
        },
        60_000
      )
      expect(
        sampleValue(after, "hotaru_link_disconnects_total", { node: "gate", peer: "game1", side: "child" })
      ).toBeGreaterThanOrEqual(1)
      expect(
        sampleValue(after, "hotaru_link_connects_total", { node: "gate", peer: "game1" })
      ).toBeGreaterThanOrEqual(2)

      // the gate's own webport: its samples only, behind the same token
      expect(await scrapeStatus(gateweb)).toBe(401)
      const gate = await scrape(gateweb, token)
      expect(sampleValue(gate, "hotaru_link_up", { node: "gate", peer: "net", side: "child" })).toBe(1)
      for (const family of gate.values()) for (const s of family.series) expect(s.labels.node).toBe("gate")

      await run(process.execPath, [bin, "stop", file], { timeout: 60_000 })
      expect(await exited(master)).toBe(0)
    } finally {
      master.kill("SIGKILL")
    }
    // every line the master and its nodes printed is one JSON record
    const records = lines
      .filter((l) => l !== "")
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>
        } catch {
          throw new Error(`not a JSON line: ${l}`)
        }
      })
    expect(records.length).toBeGreaterThan(3)
    for (const r of records) {
      expect(
        typeof r.timestamp === "string" && !Number.isNaN(Date.parse(r.timestamp)),
        JSON.stringify(r)
      ).toBe(true)
      expect(r.level).toMatch(/^(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)$/)
      expect(r.fiber).toMatch(/^#\d+$/)
      expect(typeof r.message).toBe("string")
    }
    const nodes = new Set(records.map((r) => r.node))
    for (const node of ["master", "gate", "net", "game1"]) expect(nodes.has(node), node).toBe(true)
    const game1Up = records.find((r) => r.node === "game1" && String(r.message).startsWith("node game1 up"))
    expect(game1Up, JSON.stringify(records.filter((r) => r.node === "game1").slice(0, 5))).toBeDefined()
  })
})
