/**
 * The child side of "no orphan process, ever": a node spawned by the master gets a stdin pipe the
 * master never writes to and never closes. When that pipe reaches end-of-file the master is gone
 * (even if it was SIGKILLed, the kernel closes its end), so the node shuts itself down.
 *
 * @since 0.1.0
 */

import { fstatSync } from "node:fs"
import { Deferred, Duration, Effect, Exit, type Scope } from "effect"

/** Options of {@link orphanGuard}. */
export interface OrphanGuardOptions {
  /**
   * Runs once when the parent is gone. When it completes the process exits with code 0 (1 if it
   * failed). Default: send SIGTERM to this process and wait, which makes `NodeRuntime.runMain`
   * interrupt the main fiber and run every finalizer before exiting.
   */
  readonly onOrphan?: Effect.Effect<void, unknown>
  /** Hard `process.exit(1)` if the process is still alive this long after the parent died (default 5 s). */
  readonly hardExitAfter?: Duration.DurationInput
}

const stdinIsPipe = (): boolean => {
  try {
    if (process.stdin.isTTY) return false
    const stat = fstatSync(0)
    return stat.isFIFO() || stat.isSocket()
  } catch {
    return false
  }
}

const raiseSigterm: Effect.Effect<void> = Effect.zipRight(
  Effect.sync(() => process.kill(process.pid, "SIGTERM")),
  Effect.never
)

const noop = () => {}

/**
 * Arms the guard for the lifetime of the current scope. Succeeds with `true` when armed, `false`
 * when stdin is a TTY or not a pipe (a node started by hand), in which case it does nothing.
 *
 * ```ts
 * yield* orphanGuard()                       // in the node's main, inside its scope
 * yield* orphanGuard({ onOrphan: myShutdown, hardExitAfter: "3 seconds" })
 * ```
 */
export const orphanGuard = (options: OrphanGuardOptions = {}): Effect.Effect<boolean, never, Scope.Scope> =>
  Effect.gen(function* () {
    if (!stdinIsPipe()) return false
    const hardExitAfter = Duration.decode(options.hardExitAfter ?? "5 seconds")
    const onOrphan = options.onOrphan ?? raiseSigterm
    const stdin = process.stdin
    const parentGone = yield* Deferred.make<void>()
    const onEnd = () => {
      Deferred.unsafeDone(parentGone, Exit.void)
    }

    yield* Effect.acquireRelease(
      Effect.sync(() => {
        stdin.on("data", noop)
        stdin.on("end", onEnd)
        stdin.on("close", onEnd)
        stdin.on("error", onEnd)
        stdin.resume()
      }),
      () =>
        Effect.sync(() => {
          stdin.off("data", noop)
          stdin.off("end", onEnd)
          stdin.off("close", onEnd)
          stdin.off("error", onEnd)
          stdin.pause()
          // A paused pipe must not keep the process alive once the guard is released.
          ;(stdin as { unref?: () => void }).unref?.()
        })
    )

    // The shutdown runs in a daemon fiber: it usually closes the very scope this guard lives in.
    const shutdown = Effect.gen(function* () {
      // Writes to the dead parent's pipes fail with EPIPE; they must not crash the shutdown.
      process.stdout.on("error", noop)
      process.stderr.on("error", noop)
      const result = yield* onOrphan.pipe(Effect.timeoutOption(hardExitAfter), Effect.exit)
      const code = Exit.isSuccess(result) && result.value._tag === "Some" ? 0 : 1
      yield* Effect.sync(() => process.exit(code))
    })
    yield* Effect.forkScoped(Deferred.await(parentGone).pipe(Effect.zipRight(Effect.forkDaemon(shutdown))))
    return true
  })
