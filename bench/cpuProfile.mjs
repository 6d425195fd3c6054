// A CPU profiler a benchmark can switch on and off in a process it did not start itself (the
// arena's nodes are spawned by `hotaru start`, and Node 20 refuses `--cpu-prof` in NODE_OPTIONS).
// Preloaded through NODE_OPTIONS="--import <this file>" with HOTARU_BENCH_PROFILE_DIR set: every
// SIGUSR2 toggles the V8 sampling profiler (the first starts it, the second writes
// `<dir>/<node>-<pid>-<n>.cpuprofile`), so a profile covers exactly the measured window
// (`bench/load/load.ts --profile-signal`). `<node>` is the hotaru node name (`hotaru node NAME`), or
// `master`. Without the variable this file does nothing. Bench-only; never loaded by hotaru itself.
import * as Fs from "node:fs"
import * as Inspector from "node:inspector"
import * as Path from "node:path"

const dir = process.env.HOTARU_BENCH_PROFILE_DIR
if (dir !== undefined && dir !== "") {
  const nodeAt = process.argv.indexOf("node", 2)
  const name = nodeAt >= 0 && process.argv[nodeAt + 1] !== undefined ? process.argv[nodeAt + 1] : "master"
  const intervalUs = Number(process.env.HOTARU_BENCH_PROFILE_INTERVAL_US ?? 500)
  const session = new Inspector.Session()
  session.connect()
  let running = false
  let n = 0
  // a same-thread inspector session answers synchronously, so this also works in "exit"
  const post = (method, params) => {
    let result
    session.post(method, params ?? {}, (error, r) => {
      if (error) throw error
      result = r
    })
    return result
  }
  const stop = () => {
    if (!running) return
    running = false
    const { profile } = post("Profiler.stop")
    Fs.mkdirSync(dir, { recursive: true })
    Fs.writeFileSync(Path.join(dir, `${name}-${process.pid}-${++n}.cpuprofile`), JSON.stringify(profile))
  }
  post("Profiler.enable")
  post("Profiler.setSamplingInterval", { interval: intervalUs })
  process.on("SIGUSR2", () => {
    if (running) stop()
    else {
      post("Profiler.start")
      running = true
    }
  })
  process.on("exit", stop)
}
