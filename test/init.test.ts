/**
 * `hotaru init DIR` writes a project whose own test passes.
 */

import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"

const repo = Path.resolve(__dirname, "..")
const run = promisify(execFile)

describe("hotaru init", () => {
  it("scaffolds a project that passes its own test", { timeout: 120_000 }, async () => {
    // inside the repo, so the project resolves effect/vitest from the repo's node_modules
    const parent = Fs.mkdtempSync(Path.join(repo, ".tmp-init-"))
    const dir = Path.join(parent, "mygame")
    try {
      const out = await run(process.execPath, [Path.join(repo, "bin/hotaru.js"), "init", dir])
      expect(out.stdout).toContain("created")
      for (const file of [
        "package.json",
        "config.json",
        "app/game.ts",
        "app/protocol.ts",
        "client.ts",
        "test/echo.test.ts"
      ]) {
        expect(Fs.existsSync(Path.join(dir, file)), file).toBe(true)
      }
      // `npm install` would link the published package; link this checkout instead
      Fs.mkdirSync(Path.join(dir, "node_modules"))
      Fs.symlinkSync(repo, Path.join(dir, "node_modules/hotaru"), "dir")
      const test = await run(
        process.execPath,
        [Path.join(repo, "node_modules/vitest/vitest.mjs"), "run", "--root", dir],
        {
          cwd: dir,
          env: { ...process.env, CI: "" }
        }
      )
      expect(test.stdout).toMatch(/1 passed/)
      // a second init into the same (now non-empty) directory is refused
      const again = await run(process.execPath, [Path.join(repo, "bin/hotaru.js"), "init", dir]).catch(
        (e) => e
      )
      expect(again.code).not.toBe(0)
      expect(`${again.stderr}${again.stdout}`).toMatch(/not empty/)
    } finally {
      Fs.rmSync(parent, { recursive: true, force: true })
    }
  })
})
