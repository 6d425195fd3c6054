/**
 * Output of a child process a test started, kept for its failure message: a test whose child
 * fails shows what the child printed (its stderr tail), not just an exit code.
 */
import * as Fs from "node:fs"
import type { Readable } from "node:stream"

/** Keep the last `max` characters written on `stream`; the result reads them. */
export const tailOf = (stream: Readable | null | undefined, max = 4000): (() => string) => {
  let text = ""
  stream?.on("data", (chunk: Buffer | string) => {
    text = (text + String(chunk)).slice(-max)
  })
  return () => text
}

/** `what exited with CODE` plus the child's stderr tail (or a note that it printed nothing). */
export const exitReport = (
  what: string,
  code: number | null,
  signal: NodeJS.Signals | null,
  stderr: string
): string =>
  `${what} exited with ${code ?? signal}${
    stderr.trim() === "" ? " (nothing on stderr)" : `; stderr ends with:\n${stderr.trimEnd()}`
  }`

/** Whether process `pid` runs (a zombie, exited but not reaped, does not). */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/\) Z /.test(Fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}
