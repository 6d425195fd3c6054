/**
 * Spawning one node as an OS process, with its output forwarded line by line under its name and a
 * shutdown that always ends with the process really gone.
 *
 * - The child runs in its own process group (platform `Command` does that); closing the scope
 *   sends SIGTERM to the group, waits up to `grace`, then SIGKILLs the group, and always awaits
 *   the exit (Node reaps the child, so no zombie is left behind).
 * - The child's stdin is a pipe the parent keeps open for the child's whole life: a child that
 *   runs `orphanGuard` exits by itself when the parent dies, even by SIGKILL.
 *
 * @since 0.1.0
 */

import { readFile } from "node:fs/promises"
import { constants } from "node:os"
import { Command, CommandExecutor } from "@effect/platform"
import { NodeCommandExecutor, NodeFileSystem } from "@effect/platform-node"
import { Console, Data, Deferred, Duration, Effect, Fiber, Layer, Option, type Scope, Stream } from "effect"
import { reportPid } from "./incarnation.js"

/**
 * A node process could not be spawned (bad command, missing working directory, ...), or (from
 * {@link runNode}) it exited.
 */
export class ProcessError extends Data.TaggedError("ProcessError")<{
  readonly reason: "SpawnFailed" | "Exited"
  /** The node's name. */
  readonly node: string
  readonly message: string
  /** For `Exited`: the exit code (128 + signal number for a death by signal). */
  readonly exitCode?: number
  readonly cause?: unknown
}> {}

/** Which output stream of the child a line came from. */
export type OutputStream = "stdout" | "stderr"

/** How to spawn one node process. */
export interface SpawnOptions {
  /** The node's name: the prefix of its forwarded output lines (`[game1] ...`). */
  readonly name: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly cwd?: string
  /** Extra environment variables, added to the parent's environment. */
  readonly env?: Readonly<Record<string, string>>
  /** How long SIGTERM is given before SIGKILL when the scope closes. */
  readonly grace: Duration.DurationInput
  /**
   * Called for each output line of the child (without the trailing newline). Default: print
   * `[name] line` with `Console.log` (stdout) or `Console.error` (stderr); a line that is a JSON
   * object (a `HOTARU_LOG_FORMAT=json` record) as it is.
   */
  readonly onLine?: (line: string, stream: OutputStream) => Effect.Effect<void>
}

/** A running node process. */
export interface NodeProcess {
  readonly pid: number
  /**
   * Waits for the process to exit and gives its exit code; a death by signal gives 128 + the
   * signal number (SIGKILL: 137, SIGTERM: 143), as a shell does. The output the child wrote
   * before it exited is forwarded before this completes (waiting at most 1 s for it).
   */
  readonly exitCode: Effect.Effect<number>
}

const signalCode = (error: unknown): number => {
  const text = error instanceof Error ? error.message : String(error)
  const match = /signal: (SIG[A-Z0-9]+)/.exec(text)
  const signal = match?.[1] as keyof typeof constants.signals | undefined
  const number = signal === undefined ? undefined : constants.signals[signal]
  return number === undefined ? 128 : 128 + number
}

const signalGroup = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

const ExecutorLive = Layer.provide(NodeCommandExecutor.layer, NodeFileSystem.layer)

/**
 * Spawns a node process in the current scope; see the module documentation for the shutdown.
 *
 * ```ts
 * const node = yield* spawnNode({ name: "game1", command: process.execPath, args: ["--import", "tsx", bin, "node", "game1", cfg], grace: "5 seconds" })
 * const code = yield* node.exitCode
 * ```
 */
export const spawnNode = (options: SpawnOptions): Effect.Effect<NodeProcess, ProcessError, Scope.Scope> =>
  Effect.gen(function* () {
    const grace = Duration.decode(options.grace)
    const onLine =
      options.onLine ??
      ((line: string, stream: OutputStream) => {
        // a JSON log record (HOTARU_LOG_FORMAT=json) names its node itself: it stays one object
        const shown = line.startsWith("{") && line.endsWith("}") ? line : `[${options.name}] ${line}`
        return stream === "stdout" ? Console.log(shown) : Console.error(shown)
      })

    let command = Command.make(options.command, ...options.args).pipe(
      Command.stdin("pipe"),
      Command.stdout("pipe"),
      Command.stderr("pipe")
    )
    if (options.cwd !== undefined) command = Command.workingDirectory(command, options.cwd)
    if (options.env !== undefined) command = Command.env(command, options.env)

    const proc: CommandExecutor.Process = yield* Command.start(command).pipe(
      Effect.mapError(
        (cause) =>
          new ProcessError({
            reason: "SpawnFailed",
            node: options.name,
            message: `cannot start node ${options.name} (${options.command}): ${cause.message}`,
            cause
          })
      )
    )
    const pid = proc.pid as number

    const pump = (stream: Stream.Stream<Uint8Array, unknown>, kind: OutputStream) =>
      stream.pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.runForEach((line) => onLine(line, kind)),
        Effect.ignore
      )
    const readers = yield* Effect.forkScoped(
      Effect.all([pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr")], {
        concurrency: 2,
        discard: true
      })
    )

    const exited = yield* Deferred.make<number>()
    yield* Effect.forkScoped(
      proc.exitCode.pipe(
        Effect.match({ onSuccess: (code) => code as number, onFailure: signalCode }),
        Effect.flatMap((code) => Deferred.succeed(exited, code))
      )
    )
    const drained = Fiber.await(readers).pipe(Effect.timeoutOption("1 second"), Effect.asVoid)

    // Registered after `Command.start`, so it runs before the platform's own finalizer (which
    // would wait forever for a child that ignores SIGTERM). Finalizers are uninterruptible: the
    // timed part runs in its own interruptible fiber, joined here.
    const terminate = Effect.gen(function* () {
      if (!(yield* Deferred.isDone(exited))) {
        signalGroup(pid, "SIGTERM")
        const inTime = yield* Deferred.await(exited).pipe(Effect.timeoutOption(grace))
        if (Option.isNone(inTime)) {
          signalGroup(pid, "SIGKILL")
          yield* Deferred.await(exited)
        }
      }
      yield* drained
    })
    yield* Effect.addFinalizer(() =>
      Effect.forkDaemon(Effect.interruptible(terminate)).pipe(Effect.flatMap(Fiber.join))
    )

    return {
      pid,
      exitCode: Deferred.await(exited).pipe(Effect.zipLeft(drained))
    } satisfies NodeProcess
  }).pipe(Effect.provide(ExecutorLive))

/**
 * One supervised incarnation of a node process: spawns it, reports its pid to the supervisor
 * (`Supervisor.reportPid`), and fails with `ProcessError` `Exited` when the process exits, so
 * the supervisor restarts it. Stopping the child closes the scope: SIGTERM, then SIGKILL after
 * `grace`.
 *
 * ```ts
 * yield* supervisor.start({ name: "game1", run: runNode({ name: "game1", command: process.execPath, args, grace: "5 seconds" }) })
 * ```
 */
export const runNode = (options: SpawnOptions): Effect.Effect<never, ProcessError, Scope.Scope> =>
  Effect.gen(function* () {
    const node = yield* spawnNode(options)
    yield* reportPid(node.pid)
    const exitCode = yield* node.exitCode
    return yield* Effect.fail(
      new ProcessError({
        reason: "Exited",
        node: options.name,
        message: `node ${options.name} exited with code ${exitCode}`,
        exitCode
      })
    )
  })

/** The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, ...) if the process exists (Linux). */
export const procState = (pid: number): Effect.Effect<Option.Option<string>> =>
  Effect.promise(async () => {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8")
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
      return Option.some(state)
    } catch {
      return Option.none()
    }
  })

/**
 * Whether a process is alive: `kill -0` succeeds *and* it is not a zombie (trap 10: `kill -0`
 * reports a zombie as alive). Linux only for the zombie check (elsewhere `kill -0` alone).
 */
export const isAlive = (pid: number): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    try {
      process.kill(pid, 0)
    } catch {
      return false
    }
    const state = yield* procState(pid)
    return Option.match(state, {
      onNone: () => process.platform !== "linux",
      onSome: (s) => s !== "Z" && s !== "X"
    })
  })
