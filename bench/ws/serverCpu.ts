/**
 * The servers' CPU time over a measured window, read from `/proc` (Linux): utime + stime of
 * each `--server-pid`, per message. The same figures as the TCP load client's `cpu_us_per_msg`.
 */
import * as Fs from "node:fs"

/** Linux reports process CPU time in USER_HZ ticks, 100 per second on every mainstream arch. */
const TICKS_PER_S = 100

/** utime + stime of the process in seconds (fields 14 and 15 of /proc/PID/stat). */
const cpuSecondsOf = (pid: number): number => {
  const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S
}

/** Start metering `pids` (none: no fields); `fields(messages)` ends the window. */
export const cpuMeter = (pids: ReadonlyArray<number>) => {
  const before = pids.map(cpuSecondsOf)
  return (messages: number): Record<string, string> => {
    if (pids.length === 0) return {}
    const cpu = pids.reduce((sum, pid, i) => sum + cpuSecondsOf(pid) - before[i]!, 0)
    return {
      server_cpu_s: cpu.toFixed(2),
      cpu_us_per_msg: ((cpu * 1e6) / Math.max(1, messages)).toFixed(1)
    }
  }
}
