/**
 * `hotaru init DIR` writes a project that depends on the hotaru that created it (this checkout,
 * packed into the project's `vendor/`): a real `npm install` of it in a temp directory outside
 * the repository (no symlink), then the project's own `npm test`, and its `npm start` smoke —
 * start it, the client script gets its echo, `hotaru stop` stops it.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { bin, exited } from "./support/cli.js"
import { cleanEnv, npmInstall, run, withPackLock } from "./support/pack.js"
import { freePorts } from "./support/ports.js"
import { waitFor } from "./support/wait.js"

describe("hotaru init", () => {
  it("scaffolds a project that installs the packed hotaru, passes its own test and starts", {
    timeout: 600_000
  }, async () => {
    const parent = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-init-"))
    const dir = Path.join(parent, "mygame")
    let start: ChildProcess | undefined
    try {
      // `init` packs this checkout (its prepack builds dist/): under the lock the other
      // packing test holds too
      const out = await withPackLock(() =>
        run(process.execPath, [bin, "init", dir], { env: cleanEnv(), timeout: 300_000 })
      )
      expect(out.stdout).toContain("created")
      for (const file of [
        "package.json",
        "config.json",
        "app/game.ts",
        "app/protocol.ts",
        "client.ts",
        "test/echo.test.ts",
        "vendor/hotaru-rt-0.1.0.tgz"
      ]) {
        expect(Fs.existsSync(Path.join(dir, file)), file).toBe(true)
      }
      const pkg = JSON.parse(Fs.readFileSync(Path.join(dir, "package.json"), "utf8")) as {
        dependencies: Record<string, string>
      }
      expect(pkg.dependencies["hotaru-rt"]).toBe("file:vendor/hotaru-rt-0.1.0.tgz")

      await npmInstall(dir)
      expect(Fs.lstatSync(Path.join(dir, "node_modules/hotaru-rt")).isSymbolicLink()).toBe(false)
      expect(Fs.existsSync(Path.join(dir, "node_modules/hotaru-rt/dist/Cli.js"))).toBe(true)

      // free ports instead of the scaffold's fixed ones (other tests run beside this one)
      const [rootport, webport, netport] = (await freePorts(3)) as [number, number, number]
      const configFile = Path.join(dir, "config.json")
      const config = JSON.parse(Fs.readFileSync(configFile, "utf8")) as {
        master: { rootport: number; webport: number }
        servers: { game: { netport: number } }
      }
      config.master = { rootport, webport }
      config.servers.game.netport = netport
      Fs.writeFileSync(configFile, JSON.stringify(config))
      const clientFile = Path.join(dir, "client.ts")
      Fs.writeFileSync(
        clientFile,
        Fs.readFileSync(clientFile, "utf8").replace("port: 10001", `port: ${netport}`)
      )

      await run("npm", ["run", "typecheck"], { cwd: dir, env: cleanEnv(), timeout: 180_000 })
      const test = await run("npm", ["test"], { cwd: dir, env: cleanEnv(), timeout: 180_000 })
      expect(test.stdout).toMatch(/1 passed/)

      start = spawn("npm", ["start"], {
        cwd: dir,
        env: cleanEnv(),
        detached: true,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      start.stdout?.on("data", (chunk) => {
        output += String(chunk)
      })
      start.stderr?.on("data", (chunk) => {
        output += String(chunk)
      })
      // until the node is up or npm start has exited (then the expectation shows the output)
      const npmStart = start
      await waitFor(
        "node game up",
        async () => (output.includes("node game up") || npmStart.exitCode !== null ? true : undefined),
        90_000,
        200
      ).catch(() => undefined)
      expect(output).toContain("node game up")
      const client = await run("npm", ["run", "--silent", "client"], {
        cwd: dir,
        env: cleanEnv(),
        timeout: 60_000
      })
      expect(client.stdout).toContain("hello hotaru")
      const stop = await run(
        process.execPath,
        [Path.join(dir, "node_modules/hotaru-rt/bin/hotaru.js"), "stop"],
        {
          cwd: dir,
          env: cleanEnv(),
          timeout: 120_000
        }
      )
      expect(stop.stdout).toContain("stopped")
      expect(await exited(start)).toBe(0)

      // a second init into the same (now non-empty) directory is refused
      const again = await run(process.execPath, [bin, "init", dir], { env: cleanEnv() }).catch((e) => e)
      expect(again.code).not.toBe(0)
      expect(`${again.stderr}${again.stdout}`).toMatch(/not empty/)
    } finally {
      if (start?.pid !== undefined && start.exitCode === null) {
        try {
          process.kill(-start.pid, "SIGKILL")
        } catch {}
      }
      Fs.rmSync(parent, { recursive: true, force: true })
    }
  })
})
