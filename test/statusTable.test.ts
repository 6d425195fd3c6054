/**
 * `hotaru status`'s tables: the nodes, then every node's scheduled jobs with their last and next
 * run (no job table when no node has a job).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as AdminApi from "../src/AdminApi.js"
import * as Cli from "../src/Cli.js"

const node = (name: string, jobs: ReadonlyArray<unknown>) => ({
  name,
  state: "running",
  host: "127.0.0.1",
  pid: 4242,
  restarts: 0,
  uptimeMs: 65_000,
  lastExit: null,
  linked: true,
  capabilities: ["netport"],
  parents: [],
  children: [],
  connections: 3,
  messages: 10,
  reloads: 0,
  deadLettered: 0,
  jobs
})

const report = (nodes: ReadonlyArray<unknown>) =>
  Schema.decodeUnknown(AdminApi.StatusReport)({
    master: { pid: 1, mode: "process", uptimeMs: 70_000, rootport: 9999, webport: null },
    nodes
  })

describe("hotaru status tables", () => {
  it.effect("lists each job with its node, schedule, runs, last run, outcome and next run", () =>
    Effect.gen(function* () {
      const text = Cli.formatStatus(
        yield* report([
          node("game1", [
            {
              name: "tick",
              schedule: "*/5 * * * *",
              runs: 12,
              failures: 1,
              running: false,
              lastRun: {
                startedAt: Date.UTC(2026, 11, 3, 9, 0, 0),
                durationMs: 20,
                outcome: "failure",
                error: "boom"
              },
              nextRunAt: Date.UTC(2026, 11, 3, 9, 5, 0)
            }
          ]),
          node("gate", [])
        ])
      )
      const lines = text.split("\n")
      const header = lines.findIndex((l) => l.startsWith("NODE") && l.includes("JOB"))
      expect(header).toBeGreaterThan(0)
      expect(lines[header + 1]!.split(/\s{2,}/)).toEqual([
        "game1",
        "tick",
        "*/5 * * * *",
        "12",
        "1",
        "2026-12-03 09:00:00",
        "failure",
        "2026-12-03 09:05:00"
      ])
      expect(lines.slice(header + 2)).toEqual([])
    })
  )

  it.effect("prints no job table when no node has a job", () =>
    Effect.gen(function* () {
      const text = Cli.formatStatus(yield* report([node("gate", [])]))
      expect(text).not.toContain("JOB")
      expect(text.split("\n")[1]!.startsWith("NODE")).toBe(true)
      expect(text).toContain("gate")
    })
  )
})
