/**
 * The demo on Bun and on Deno (both installed from the npm registry as devDependencies): the
 * CLI starts the master and its three node processes on the runtime, and the demo client, run
 * on the same runtime, gets its three replies; `hotaru stop` ends the tree.
 */
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { bin, exited } from "./support/cli.js"
import { demoConfig } from "./support/demo.js"
import { cleanEnv, repo, run } from "./support/pack.js"
import { waitFor } from "./support/wait.js"

/** `[executable, ...arguments before the script]` of each runtime. */
const runtimes = {
  bun: [Path.join(repo, "node_modules/.bin/bun")],
  deno: [Path.join(repo, "node_modules/.bin/deno"), "run", "-A"]
} as const

describe.each(Object.keys(runtimes) as ReadonlyArray<keyof typeof runtimes>)("the demo on %s", (runtime) => {
  it("starts, answers the demo client's three commands and stops", { timeout: 180_000 }, async () => {
    const [command, ...args] = runtimes[runtime]
    const { dir, file, netport } = await demoConfig({ prefix: runtime, named: false })
    // run from the repository: Deno reads deno.json, Bun tsconfig.json, from there
    const master = spawn(command, [...args, bin, "start", file], {
      cwd: repo,
      env: cleanEnv(),
      detached: true,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    master.stdout?.on("data", (chunk) => {
      output += String(chunk)
    })
    master.stderr?.on("data", (chunk) => {
      output += String(chunk)
    })
    try {
      const up = () => ["gate", "net", "game1"].every((n) => output.includes(`node ${n} up`))
      // until the three are up or the master has exited (then the expectation shows its output)
      await waitFor(
        `the three nodes up on ${runtime}`,
        async () => (up() || master.exitCode !== null ? true : undefined),
        90_000,
        200
      ).catch(() => undefined)
      expect(up(), output).toBe(true)
      const client = await run(
        command,
        [...args, Path.join(repo, "examples/demo/client.ts"), "127.0.0.1", String(netport)],
        { cwd: repo, env: cleanEnv(), timeout: 90_000 }
      )
      expect(client.stdout).toContain("netHandle_100 completed")
      expect(client.stdout).toContain("gateHandle Completed")
      expect(client.stdout).toContain("game1Handle completed")
      const stop = await run(process.execPath, [bin, "stop", file], {
        cwd: repo,
        env: cleanEnv(),
        timeout: 60_000
      })
      expect(stop.stdout).toContain("stopped")
      expect(await exited(master)).toBe(0)
      expect(output).not.toMatch(/ERROR/)
    } finally {
      if (master.pid !== undefined && master.exitCode === null) {
        try {
          process.kill(-master.pid, "SIGKILL")
        } catch {}
      }
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
