/**
 * The `hotaru` CLI as tests run it, in real processes: started in the background (its stderr tail
 * printed when it does not exit 0), run to its end, and waited on.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as Path from "node:path"
import { promisify } from "node:util"
import { Effect, type Scope } from "effect"
import { exitReport, tailOf } from "./child.js"

export const repo = Path.resolve(__dirname, "../..")
/** The CLI's entry point, run with `process.execPath` (or another runtime). */
export const bin = Path.join(repo, "bin/hotaru.js")
export const run = promisify(execFile)

/**
 * `hotaru ...args` in the background under node, logging at `warning`; its stdout is drained. A
 * child that does not exit 0 prints `what` and its stderr tail, also when a signal ended it (a
 * test that failed SIGKILLs its master in `finally`: the tail is what the master logged).
 */
export const startHotaru = (
  what: string,
  args: ReadonlyArray<string>,
  env: Record<string, string> = {}
): ChildProcess => {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, HOTARU_LOG: "warning", ...env }
  })
  child.stdout?.resume()
  const stderr = tailOf(child.stderr)
  child.once("exit", (code, signal) => {
    if (code !== 0) console.error(exitReport(what, code, signal, stderr()))
  })
  return child
}

/** `startHotaru` for the current scope: SIGKILLed when the scope closes (that exit prints nothing). */
export const startHotaruScoped = (
  what: string,
  args: ReadonlyArray<string>,
  env: Record<string, string> = {}
): Effect.Effect<ChildProcess, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => startHotaru(what, args, env)),
    (child) =>
      Effect.sync(() => {
        child.removeAllListeners("exit")
        child.kill("SIGKILL")
      })
  )

/** `hotaru ...args` in the background, everything it prints (stdout and stderr) collected. */
export const background = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, HOTARU_LOG: "warning", ...env }
  })
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  return { child, output: () => output }
}

/** Run the CLI to its end: its exit code and everything it printed. */
export const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  run(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }).then(
    (r) => ({ code: 0, output: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: e.code ?? -1,
      output: (e.stdout ?? "") + (e.stderr ?? "")
    })
  )

/** The child's exit code once it has exited (`null` when a signal ended it). */
export const exited = (child: ChildProcess): Promise<number | null> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode)
    else child.once("exit", (code) => resolve(code))
  })
