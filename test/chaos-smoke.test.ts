/**
 * A tiny smoke of the chaos suite (`npm run chaos -- --smoke`): the embedded default (SQLite +
 * the in-process cache), one node process, clients writing, one SIGKILL and restart; every
 * acknowledged write must be in SQLite. The full suite is `npm run chaos` (see CHAOS.md).
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

describe("chaos smoke", () => {
  it.live(
    "embedded default, one SIGKILL: the suite prints lost 0 and exits 0",
    () =>
      Effect.gen(function* () {
        const { code, output } = yield* Effect.async<{ code: number | null; output: string }>((resume) => {
          const child = spawn(process.execPath, ["--import", "tsx", "bench/chaos/run.ts", "--smoke"], {
            cwd: root,
            stdio: ["ignore", "pipe", "pipe"]
          })
          let output = ""
          child.stdout.on("data", (c: Buffer) => {
            output += c.toString("utf8")
          })
          child.stderr.on("data", (c: Buffer) => {
            output += c.toString("utf8")
          })
          child.once("exit", (code) => resume(Effect.succeed({ code, output })))
          return Effect.sync(() => child.kill("SIGKILL"))
        }).pipe(Effect.timeout("60 seconds"))
        expect(output).toMatch(/\| embedded \| 1 \| 1 \|/)
        expect(output.trimEnd().split("\n").at(-1)).toBe("lost 0")
        expect(code, output).toBe(0)
      }),
    70_000
  )
})
