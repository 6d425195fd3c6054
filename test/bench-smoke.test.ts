/**
 * CI smoke run of the benchmark: the bench app's nodes answer correctly over real sockets in
 * real processes, and `bench/run.ts --smoke` (≈1 s per workload, tiny sizes, hotaru against the
 * raw baselines and stock @effect/rpc, and over WebSocket against a raw `ws` server; no Pinus,
 * nothing outside the repository) prints a line per cell. Numbers are not checked: CI machines
 * are too noisy for that.
 */
import * as ChildProcess from "node:child_process"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Scope, Stream } from "effect"
import { Client } from "hotaru-rt"
import { Echo, Fanout, Forward, Push } from "../bench/app/protocol.js"
import { exitReport, tailOf } from "./support/child.js"

const repo = Path.resolve(import.meta.dirname, "..")
const host = "127.0.0.1"

/** A bench server in its own process; killed with the scope. */
const server = (script: string, args: ReadonlyArray<string>): Effect.Effect<number, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly child: ChildProcess.ChildProcess }, Error>((resume) => {
      const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", script, ...args], {
        cwd: repo,
        stdio: ["ignore", "pipe", "pipe"]
      })
      const stderr = tailOf(child.stderr)
      Readline.createInterface({ input: child.stdout! }).on("line", (line) => {
        const m = /^READY port=(\d+)/.exec(line)
        if (m !== null) resume(Effect.succeed({ port: Number(m[1]), child }))
      })
      child.once("exit", (code, signal) =>
        resume(Effect.fail(new Error(exitReport(script, code, signal, stderr()))))
      )
      return Effect.sync(() => child.kill("SIGKILL"))
    }).pipe(
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`${script}: no READY`) })
    ),
    ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
  ).pipe(Effect.map(({ port }) => port))

const text = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1")

describe("bench", () => {
  it.scopedLive(
    "the bench app answers echo, fan-out and forward (through the backend node)",
    () =>
      Effect.gen(function* () {
        const backend = yield* server("bench/servers/hotaruBackend.ts", [])
        const net = yield* server("bench/servers/hotaruNet.ts", ["--backend", String(backend)])
        const a = yield* Client.connect({ host, port: net, timeout: "5 seconds" })
        const b = yield* Client.connect({ host, port: net, timeout: "5 seconds" })
        const body = Buffer.alloc(32, 0x61)
        expect(text(yield* a.call(Echo, body))).toBe("a".repeat(32))
        expect(text(yield* b.call(Echo, Buffer.alloc(0)))).toBe("")
        expect(text(yield* a.call(Forward, Buffer.from("forwarded")))).toBe("forwarded")
        yield* a.send(Fanout, Buffer.from("to everyone"))
        const pushes = yield* Effect.all(
          [a, b].map((c) => Stream.runHead(c.pushesOf(Push))),
          { concurrency: "unbounded" }
        ).pipe(Effect.timeout("5 seconds"))
        expect(pushes.map((p) => (p._tag === "Some" ? text(p.value) : "none"))).toEqual([
          "to everyone",
          "to everyone"
        ])
      }),
    30_000
  )

  it.live(
    "bench/run.ts --smoke prints one ratio line per cell",
    () =>
      Effect.async<{ readonly stdout: string; readonly stderr: string }, Error>((resume) => {
        const out = Path.join(Os.tmpdir(), `hotaru-bench-smoke-${process.pid}.jsonl`)
        const child = ChildProcess.spawn(
          process.execPath,
          ["--import", "tsx", "bench/run.ts", "--smoke", "--out", out],
          { cwd: repo, stdio: ["ignore", "pipe", "pipe"] }
        )
        const stderr = tailOf(child.stderr)
        let stdout = ""
        child.stdout!.on("data", (d: Buffer) => {
          stdout += d.toString("utf8")
        })
        child.once("exit", (code, signal) =>
          code === 0
            ? resume(Effect.succeed({ stdout, stderr: stderr() }))
            : resume(
                Effect.fail(
                  new Error(
                    `${exitReport("bench/run.ts --smoke", code, signal, stderr())}\nstdout:\n${stdout}`
                  )
                )
              )
        )
        return Effect.sync(() => child.kill("SIGKILL"))
      }).pipe(
        Effect.timeout("200 seconds"),
        Effect.andThen(({ stderr, stdout }) => {
          // a failed side prints its reason on stderr: show it with any failed expectation
          const why = `stderr:\n${stderr}\nstdout:\n${stdout}`
          const lines = stdout.split("\n")
          const find = (re: RegExp) => lines.find((l) => re.test(l))
          expect(
            find(
              /^W1 echo c=\d+ \[nodelay hotaru=on raw=on\]: hotaru [\d,]+ msg\/s p50 .* raw [\d,]+ msg\/s, ratio \d/
            ),
            why
          ).toBeDefined()
          expect(find(/^W2 forward c=\d+ .*: hotaru [\d,]+ msg\/s p50 /), why).toBeDefined()
          expect(
            find(/^W3 fan-out n=\d+ .*: hotaru [\d,]+ deliveries\/s, raw [\d,]+ deliveries\/s, ratio /),
            why
          ).toBeDefined()
          expect(find(/^W4 idle n=\d+ .*: hotaru -?[\d,]+ B\/conn, raw -?[\d,]+ B\/conn/), why).toBeDefined()
          expect(
            find(
              /^W5 rpc in-flight=\d+ .*: hotaru [\d,]+ calls\/s .* stock @effect\/rpc [\d,]+ calls\/s, raw [\d,]+ calls\/s, ratio /
            ),
            why
          ).toBeDefined()
          // over WebSocket: hotaru's wsport node and the raw ws server, 2-20 connections
          expect(
            find(/^WS1 ws echo c=\d+: hotaru [\d,]+ msg\/s p50 .* raw [\d,]+ msg\/s .*, ratio \d/),
            why
          ).toBeDefined()
          expect(
            find(
              /^WS2 ws fan-out n=\d+ .*: hotaru [\d,]+ deliveries\/s .* raw [\d,]+ deliveries\/s .*, ratio \d/
            ),
            why
          ).toBeDefined()
          expect(
            find(
              /^WS3 ws idle n=\d+ .*: hotaru -?[\d,]+ B\/conn \(rss -?[\d,]+ B\/conn\), raw -?[\d,]+ B\/conn/
            ),
            why
          ).toBeDefined()
          expect(
            find(
              /^WS4 ws reconnect storm n=\d+ \[hotaru: resume; raw: a new login\]: hotaru [\d,]+ ms p50 .* raw [\d,]+ ms, ratio \d/
            ),
            why
          ).toBeDefined()
          expect(stdout, why).not.toMatch(/FAILED|errors\]/)
          return lines.length
        })
      ),
    240_000
  )
})
