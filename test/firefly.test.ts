/**
 * A firefly project as it is: the `config.json` firefly's `createproject` writes
 * (test/fixtures/firefly-createproject: its shape, keys and layout, with the db block's host and
 * password adapted to this machine's MariaDB — 127.0.0.1, root, empty — where firefly writes
 * `localhost` / `111`) loads with a warning for the `net` server's `"name": "gate"`, and its
 * nodes run through the real CLI and answer an echo on command 1 (firefly's `echo_1`).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as Client from "../src/Client.js"
import * as HotaruConfig from "../src/HotaruConfig.js"
import { Echo1 } from "./fixtures/firefly-createproject/app/apptest.js"
import { exitReport, tailOf } from "./support/child.js"
import { freePort } from "./support/ports.js"

const repo = Path.resolve(import.meta.dirname, "..")
const bin = Path.join(repo, "bin/hotaru.js")
const fixture = Path.join(repo, "test/fixtures/firefly-createproject")
const nameWarning = `servers.net.name: "gate" differs from its key; the node is named "net" (by its key, as in firefly)`

describe("firefly's createproject config", () => {
  it.effect("loads as it is: the key names the node, the differing name is a warning", () =>
    Effect.gen(function* () {
      const loaded = yield* HotaruConfig.load(Path.join(fixture, "config.json"))
      expect(loaded.warnings).toEqual([nameWarning])
      expect(Object.keys(loaded.config.servers)).toEqual(["net", "gate"])
      expect(HotaruConfig.childrenOf(loaded.config, "gate")).toEqual(["net"])
      expect(loaded.config.servers.net?.netport).toBe(1000)
      expect(loaded.config.db).toEqual({
        host: "127.0.0.1",
        user: "root",
        passwd: "",
        port: 3306,
        db: "test",
        charset: "utf8"
      })
      expect(loaded.config.memcached).toEqual({ urls: ["127.0.0.1:11211"], hostname: "test" })
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.live(
    "hotaru start runs it: the master warns, net answers an echo on command 1",
    () =>
      Effect.gen(function* () {
        // the fixture in a temp directory, its four port numbers replaced by free ones (so the
        // suite can run beside anything on 9999/9998/20001/1000); every key stays as it is. The
        // app folder is a link to the fixture's (its import of hotaru is relative to the repo).
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-firefly-"))
        Fs.symlinkSync(Path.join(fixture, "app"), Path.join(dir, "app"), "dir")
        const netport = yield* Effect.promise(freePort)
        const ports: Record<string, number> = {
          "9999": yield* Effect.promise(freePort),
          "9998": yield* Effect.promise(freePort),
          "20001": yield* Effect.promise(freePort),
          "1000": netport
        }
        const text = Fs.readFileSync(Path.join(fixture, "config.json"), "utf8").replace(
          /"(rootport|webport|netport)":(\d+)/g,
          (_, key: string, port: string) => `"${key}":${ports[port] ?? port}`
        )
        Fs.writeFileSync(Path.join(dir, "config.json"), text)

        const master = yield* Effect.acquireRelease(
          Effect.sync(() =>
            spawn(process.execPath, [bin, "start", "config.json"], {
              cwd: dir,
              stdio: ["ignore", "pipe", "pipe"],
              env: { ...process.env, HOTARU_LOG: "info" }
            })
          ),
          (child: ChildProcess) => Effect.sync(() => child.kill("SIGKILL"))
        )
        const stdout = tailOf(master.stdout, 20_000)
        const stderr = tailOf(master.stderr)
        const exited = Effect.async<never, Error>((resume) => {
          master.once("exit", (code, signal) =>
            resume(Effect.fail(new Error(exitReport("hotaru start", code, signal, stderr()))))
          )
        })

        const body = Buffer.from("asdfe")
        const echo = Effect.scoped(
          Effect.flatMap(
            Client.connect({ host: "127.0.0.1", port: netport, timeout: "2 seconds" }),
            (client) => client.call(Echo1, body)
          )
        ).pipe(
          Effect.retry(Schedule.spaced("200 millis")),
          Effect.timeoutFail({
            duration: "45 seconds",
            onTimeout: () => new Error(`no echo in 45 s; the master printed:\n${stdout()}\n${stderr()}`)
          })
        )
        const reply = yield* Effect.raceFirst(echo, exited)
        expect(Buffer.from(reply).toString("latin1")).toBe("asdfe")
        expect(stdout() + stderr()).toContain(nameWarning)

        // a refused admin token is a user error too: two lines, no stack, exit 1
        const refused = yield* Effect.async<{ readonly code: number | null; readonly stderr: string }>(
          (resume) => {
            const child = execFile(
              process.execPath,
              [bin, "stop", "config.json", "--token", "wrong"],
              { cwd: dir, timeout: 40_000 },
              (_, __, err) => resume(Effect.succeed({ code: child.exitCode, stderr: err }))
            )
          }
        )
        expect(refused.code, refused.stderr).toBe(1)
        expect(refused.stderr).not.toMatch(/^\s+at /m)
        expect(refused.stderr.trimEnd().split("\n")).toEqual([
          expect.stringMatching(
            /^hotaru: the master at 127\.0\.0\.1:\d+ refused the admin token \(HTTP 401: invalid bearer token\)$/
          ),
          expect.stringContaining("--token")
        ])

        master.kill("SIGTERM")
        const code = yield* Effect.async<number | null>((resume) => {
          if (master.exitCode !== null) resume(Effect.succeed(master.exitCode))
          else master.once("exit", (c) => resume(Effect.succeed(c)))
        }).pipe(Effect.timeout("30 seconds"))
        expect(code, stderr()).toBe(0)
      }).pipe(Effect.scoped),
    90_000
  )
})
