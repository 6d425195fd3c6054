import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Console, Duration, Effect, Exit, Option, Ref, Schedule, Scope } from "effect"
import { isAlive, procState, runNode, spawnNode } from "../src/internal/control/process.js"
import * as NodeSupervisor from "../src/NodeSupervisor.js"

const fixture = (file: string) => fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url))
const cwd = fileURLToPath(new URL("..", import.meta.url))

/** Collects forwarded lines as `stream: line`. */
const collector = Effect.gen(function* () {
  const lines = yield* Ref.make<ReadonlyArray<string>>([])
  const onLine = (line: string, stream: string) => Ref.update(lines, (all) => [...all, `${stream}: ${line}`])
  const waitFor = (predicate: (line: string) => boolean) =>
    Ref.get(lines).pipe(
      Effect.map((all) => all.find(predicate)),
      Effect.flatMap((found) => (found === undefined ? Effect.fail("not yet") : Effect.succeed(found))),
      Effect.retry(Schedule.spaced("20 millis")),
      Effect.timeout("25 seconds"),
      Effect.orDie
    )
  return { lines, onLine, waitFor }
})

const waitDead = (pid: number, within: Duration.DurationInput) =>
  isAlive(pid).pipe(
    Effect.flatMap((alive) => (alive ? Effect.fail("alive") : Effect.void)),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeout(within)
  )

describe("spawnNode", () => {
  it.live(
    "forwards stdout and stderr lines prefixed with the node's name (default sink: Console)",
    () =>
      Effect.gen(function* () {
        const out: Array<string> = []
        const base = yield* Effect.console
        const capture = {
          ...base,
          log: (...args: ReadonlyArray<unknown>) => Effect.sync(() => void out.push(`log ${args.join(" ")}`)),
          error: (...args: ReadonlyArray<unknown>) =>
            Effect.sync(() => void out.push(`error ${args.join(" ")}`))
        }
        const code = yield* Effect.scoped(
          Effect.gen(function* () {
            const node = yield* spawnNode({
              name: "game1",
              command: process.execPath,
              args: [fixture("lines.mjs")],
              grace: "2 seconds"
            })
            expect(node.pid).toBeGreaterThan(0)
            return yield* node.exitCode
          })
        ).pipe(Console.withConsole(capture))
        expect(code).toBe(0)
        expect(out.filter((l) => l.startsWith("log "))).toEqual(["log [game1] hello", "log [game1] world"])
        expect(out.filter((l) => l.startsWith("error "))).toEqual(["error [game1] oops"])
      }),
    20_000
  )

  it.live(
    "reports the exit code of a crash",
    () =>
      Effect.gen(function* () {
        const { lines, onLine } = yield* collector
        const code = yield* Effect.scoped(
          Effect.flatMap(
            spawnNode({
              name: "c",
              command: process.execPath,
              args: [fixture("lines.mjs"), "3"],
              grace: "1 second",
              onLine
            }),
            (node) => node.exitCode
          )
        )
        expect(code).toBe(3)
        expect(yield* Ref.get(lines)).toEqual(expect.arrayContaining(["stdout: hello", "stderr: oops"]))
      }),
    20_000
  )

  it.live(
    "a failing spawn is a ProcessError",
    () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          Effect.scoped(spawnNode({ name: "x", command: "/nonexistent/binary", args: [], grace: "1 second" }))
        )
        expect(error._tag).toBe("ProcessError")
        expect(error.node).toBe("x")
        expect(error.message).toContain("cannot start node x")
      }),
    20_000
  )

  it.live(
    "closing the scope stops a process that obeys SIGTERM, forwarding its last words",
    () =>
      Effect.gen(function* () {
        const { lines, onLine, waitFor } = yield* collector
        const scope = yield* Scope.make()
        const node = yield* spawnNode({
          name: "n",
          command: process.execPath,
          args: [fixture("sigterm.mjs"), "obey"],
          grace: "5 seconds",
          onLine
        }).pipe(Scope.extend(scope))
        yield* waitFor((l) => l.startsWith("stdout: ready"))
        const [elapsed] = yield* Effect.timed(Scope.close(scope, Exit.void))
        expect(Duration.toMillis(elapsed)).toBeLessThan(4000)
        expect(yield* node.exitCode).toBe(0)
        expect(yield* Ref.get(lines)).toContain("stdout: bye")
        expect(yield* isAlive(node.pid)).toBe(false)
      }),
    20_000
  )

  it.live(
    "a process that ignores SIGTERM is SIGKILLed after the grace period, and the scope closes",
    () =>
      Effect.gen(function* () {
        const { lines, onLine, waitFor } = yield* collector
        const scope = yield* Scope.make()
        const node = yield* spawnNode({
          name: "stubborn",
          command: process.execPath,
          args: [fixture("sigterm.mjs"), "ignore"],
          grace: "600 millis",
          onLine
        }).pipe(Scope.extend(scope))
        yield* waitFor((l) => l.startsWith("stdout: ready"))
        const [elapsed] = yield* Effect.timed(Scope.close(scope, Exit.void).pipe(Effect.timeout("8 seconds")))
        expect(Duration.toMillis(elapsed)).toBeGreaterThanOrEqual(550)
        expect(Duration.toMillis(elapsed)).toBeLessThan(5000)
        expect(yield* node.exitCode).toBe(137)
        expect(yield* Ref.get(lines)).toContain("stdout: ignoring SIGTERM")
        expect(yield* isAlive(node.pid)).toBe(false)
        expect(yield* procState(node.pid)).toEqual(Option.none())
      }),
    20_000
  )
})

describe("orphanGuard", () => {
  it.live(
    "a grandchild exits by itself when its parent is SIGKILLed",
    () =>
      Effect.gen(function* () {
        const { onLine, waitFor } = yield* collector
        const scope = yield* Scope.make()
        const parent = yield* spawnNode({
          name: "parent",
          command: process.execPath,
          args: [fixture("orphanParent.mjs")],
          cwd,
          grace: "1 second",
          onLine
        }).pipe(Scope.extend(scope))
        const armedLine = yield* waitFor((l) => /child \d+ armed=/.test(l))
        expect(armedLine).toMatch(/armed=true$/)
        const childPid = Number(/child (\d+)/.exec(armedLine)![1])
        expect(yield* isAlive(childPid)).toBe(true)

        process.kill(parent.pid, "SIGKILL")
        expect(yield* parent.exitCode).toBe(137)

        const [elapsed] = yield* Effect.timed(waitDead(childPid, "6 seconds"))
        expect(Duration.toMillis(elapsed)).toBeLessThan(6000)
        // The shutdown was graceful: the child's own finalizers ran.
        yield* waitFor((l) => l === `stdout: child ${childPid} finalizer ran`)
        yield* Scope.close(scope, Exit.void)
      }),
    30_000
  )

  it.live(
    "a grandchild whose shutdown hangs is ended by the hard exit",
    () =>
      Effect.gen(function* () {
        const { onLine, waitFor } = yield* collector
        const parent = yield* spawnNode({
          name: "parent",
          command: process.execPath,
          args: [fixture("orphanParent.mjs"), "stuck"],
          cwd,
          grace: "1 second",
          onLine
        })
        const armedLine = yield* waitFor((l) => /child \d+ armed=true/.test(l))
        const childPid = Number(/child (\d+)/.exec(armedLine)![1])
        process.kill(parent.pid, "SIGKILL")
        // hardExitAfter is 3 s in the fixture
        const [elapsed] = yield* Effect.timed(waitDead(childPid, "10 seconds"))
        expect(Duration.toMillis(elapsed)).toBeGreaterThanOrEqual(2500)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "an armed node still stops normally on SIGTERM, running its finalizers",
    () =>
      Effect.gen(function* () {
        const { onLine, waitFor } = yield* collector
        const scope = yield* Scope.make()
        const node = yield* spawnNode({
          name: "armed",
          command: process.execPath,
          args: ["--import", "tsx", fixture("orphanChild.ts")],
          cwd,
          grace: "5 seconds",
          onLine
        }).pipe(Scope.extend(scope))
        yield* waitFor((l) => l.endsWith("armed=true"))
        const [elapsed] = yield* Effect.timed(Scope.close(scope, Exit.void))
        expect(Duration.toMillis(elapsed)).toBeLessThan(4000)
        // its last line may be read after its exit is seen: wait for it (bounded)
        yield* waitFor((l) => l === `stdout: child ${node.pid} finalizer ran`)
        expect(yield* isAlive(node.pid)).toBe(false)
      }),
    30_000
  )

  it.live(
    "does nothing when stdin is not a pipe",
    () =>
      Effect.gen(function* () {
        const { onLine, waitFor } = yield* collector
        // `sh -c 'exec ... </dev/null'`: the guarded child gets /dev/null (a character device) as stdin.
        const node = yield* spawnNode({
          name: "byhand",
          command: "/bin/sh",
          args: ["-c", `exec "${process.execPath}" --import tsx "${fixture("orphanChild.ts")}" </dev/null`],
          cwd,
          grace: "3 seconds",
          onLine
        })
        const line = yield* waitFor((l) => /armed=/.test(l))
        expect(line).toMatch(/armed=false$/)
        expect(yield* isAlive(node.pid)).toBe(true)
      }).pipe(Effect.scoped),
    30_000
  )
})

describe("Supervisor + runNode (real processes)", () => {
  it.live(
    "a crashing node is restarted with backoff until the intensity is exceeded",
    () =>
      Effect.gen(function* () {
        const { lines, onLine } = yield* collector
        const sup = yield* NodeSupervisor.make
        yield* sup.start({
          name: "crashy",
          run: runNode({
            name: "crashy",
            command: process.execPath,
            args: [fixture("lines.mjs"), "3"],
            grace: "1 second",
            onLine
          }),
          backoff: { base: "50 millis", max: "200 millis" },
          intensity: { maxRestarts: 2, within: "1 minute" }
        })
        const failed = yield* sup.status.pipe(
          Effect.map((all) => all[0]!),
          Effect.filterOrFail((c) => c.state === "failed"),
          Effect.retry(Schedule.spaced("50 millis")),
          Effect.timeout("15 seconds")
        )
        expect(failed.restarts).toBe(2)
        expect(failed.lastExit).toBe("failed: ProcessError: node crashy exited with code 3")
        expect((yield* Ref.get(lines)).filter((l) => l === "stdout: hello")).toHaveLength(3)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "the running node's pid is reported; stop terminates the process",
    () =>
      Effect.gen(function* () {
        const { onLine, waitFor } = yield* collector
        const sup = yield* NodeSupervisor.make
        yield* sup.start({
          name: "svc",
          run: runNode({
            name: "svc",
            command: process.execPath,
            args: [fixture("sigterm.mjs"), "obey"],
            grace: "2 seconds",
            onLine
          })
        })
        const ready = yield* waitFor((l) => l.startsWith("stdout: ready"))
        const pid = Number(ready.split(" ")[2])
        const running = (yield* sup.status)[0]!
        expect(running.state).toBe("running")
        expect(running.pid).toBe(pid)
        yield* sup.stop("svc", "5 seconds")
        expect(yield* isAlive(pid)).toBe(false)
        yield* waitFor((l) => l === "stdout: bye")
        const stopped = (yield* sup.status)[0]!
        expect(stopped.state).toBe("stopped")
        expect(stopped.pid).toBeUndefined()
      }).pipe(Effect.scoped),
    30_000
  )
})
