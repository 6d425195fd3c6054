/**
 * The `hotaru` command's user errors, through the real CLI in a child process: one or two lines
 * (what went wrong, what to do), no stack trace, a non-zero exit; `--verbose` adds the stack.
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as SupportPorts from "./support/ports.js"

const repo = Path.resolve(import.meta.dirname, "..")
const bin = Path.join(repo, "bin/hotaru.js")
const demoApp = Path.join(repo, "examples/demo/app")
/** An app with only a client command (command 1, echo). */
const echoApp = Path.join(repo, "test/fixtures/firefly-createproject/app/apptest.ts")

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Run `hotaru ARGS` in `cwd` to its end (at most `timeout` ms, default 40 s). */
const hotaru = (
  args: ReadonlyArray<string>,
  cwd: string,
  env: Record<string, string> = {},
  timeout = 40_000
) =>
  Effect.async<Ran>((resume) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { cwd, timeout, env: { ...process.env, HOTARU_LOG: "info", ...env } },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error === null ? 0 : (child.exitCode ?? -1), stdout, stderr }))
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** No stack frame anywhere in the output, a non-zero exit, at most two lines on stderr. */
const expectUserError = (ran: Ran) => {
  const all = `${ran.stdout}${ran.stderr}`
  expect(all, all).not.toMatch(/^\s+at /m)
  expect(ran.code, all).not.toBe(0)
  expect(ran.code, all).not.toBeNull()
  expect(ran.stderr.trimEnd().split("\n").length, all).toBeLessThanOrEqual(2)
}

const tempDir = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-cli-"))

/** A port nothing listens on (bound once, released). */
const freePort = () => Effect.promise(SupportPorts.freePort)

const writeConfig = (dir: string, config: unknown) => {
  const file = Path.join(dir, "config.json")
  Fs.writeFileSync(file, JSON.stringify(config))
  return file
}

describe("hotaru CLI user errors", () => {
  it.live(
    "status without a config: the file, why, and what to do",
    () =>
      Effect.gen(function* () {
        const ran = yield* hotaru(["status"], tempDir())
        expectUserError(ran)
        const [first, second] = ran.stderr.trimEnd().split("\n")
        expect(first).toMatch(/^hotaru: config\.json: cannot read the file \(no such file: .*config\.json\)$/)
        expect(second).toContain("CONFIG argument")
      }),
    60_000
  )

  it.live(
    "status with no master running names the address and the config",
    () =>
      Effect.gen(function* () {
        const dir = tempDir()
        const [rootport, webport] = [yield* freePort(), yield* freePort()]
        const file = writeConfig(dir, {
          master: { rootport, webport },
          servers: { net: { netport: yield* freePort(), app: Path.join(demoApp, "netserver.ts") } }
        })
        const ran = yield* hotaru(["status", file], dir)
        expectUserError(ran)
        expect(ran.stderr).toContain(`hotaru: No master is running at 127.0.0.1:${webport} (config ${file})`)
        expect(ran.stderr).toContain(`hotaru start ${file}`)
        expect(ran.stderr).not.toContain("fetch failed")
      }),
    60_000
  )

  it.live(
    "a bad config prints its issue lines",
    () =>
      Effect.gen(function* () {
        const dir = tempDir()
        const file = writeConfig(dir, {
          servers: { net: { netport: "abc", webport: 0 } }
        })
        const ran = yield* hotaru(["start", file], dir)
        const all = `${ran.stdout}${ran.stderr}`
        expect(all).not.toMatch(/^\s+at /m)
        expect(ran.code).toBe(1)
        expect(ran.stderr.trimEnd().split("\n")).toEqual([
          `hotaru: ${file}: servers.net.netport: expected a port number 1-65535, got "abc"`,
          `hotaru: ${file}: servers.net.webport: expected a port number 1-65535, got 0`
        ])
      }),
    60_000
  )

  it.live(
    "a node name the config does not have; a port in use",
    () =>
      Effect.gen(function* () {
        const dir = tempDir()
        const busy = Net.createServer()
        yield* Effect.promise(() => new Promise<void>((resolve) => busy.listen(0, "0.0.0.0", resolve)))
        const netport = (busy.address() as Net.AddressInfo).port
        const file = writeConfig(dir, {
          servers: { net: { netport, app: echoApp } }
        })
        const [unknown, inUse] = yield* Effect.all(
          [hotaru(["node", "nope", file], dir), hotaru(["node", "net", file], dir)],
          { concurrency: 2 }
        ).pipe(Effect.ensuring(Effect.sync(() => busy.close())))
        expectUserError(unknown)
        expect(unknown.stderr).toContain(`hotaru: node nope: no server "nope" in ${file} (servers: net)`)
        expectUserError(inUse)
        expect(inUse.stderr).toMatch(/^hotaru: node net: .*EADDRINUSE/)
      }),
    60_000
  )

  it.live(
    "init: the project ignores the token file and data; a second init is refused in two lines",
    () =>
      Effect.gen(function* () {
        const dir = Path.join(tempDir(), "mygame")
        // a version range: no pack (init.test.ts covers the packed default and installs it)
        const created = yield* hotaru(["init", dir, "--from", "^0.1.0"], repo)
        expect(created.code, created.stderr).toBe(0)
        const ignored = Fs.readFileSync(Path.join(dir, ".gitignore"), "utf8").split("\n")
        expect(ignored).toEqual(expect.arrayContaining([".hotaru-admin-token", "data/", "node_modules/"]))
        const again = yield* hotaru(["init", dir], repo)
        expectUserError(again)
        expect(again.stderr).toContain(`hotaru: ${dir} is not empty`)
      }),
    200_000
  )

  it.live(
    "--verbose (or HOTARU_LOG=debug) prints the stack trace",
    () =>
      Effect.gen(function* () {
        const [verbose, debug] = yield* Effect.all(
          [
            hotaru(["status", "--verbose"], tempDir()),
            hotaru(["status"], tempDir(), { HOTARU_LOG: "debug" })
          ],
          { concurrency: 2 }
        )
        for (const ran of [verbose, debug]) {
          expect(ran.code).toBe(1)
          expect(ran.stdout + ran.stderr).toContain("ConfigError")
          expect(ran.stdout + ran.stderr).toMatch(/^\s+at /m)
        }
      }),
    60_000
  )
})
