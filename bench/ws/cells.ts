/**
 * The WebSocket cells of `npm run bench` (WS1–WS4; `--only ws`): hotaru's `wsport` node
 * (`bench/servers/hotaruWs.ts`) next to a raw `ws` server (`bench/servers/rawWs.ts`), each in
 * its own process with `--expose-gc`, loaded by `bench/ws/wsLoad.ts` in a third. `bench/run.ts`
 * hands in its process machinery and prints the cells as it prints its own.
 *
 * Servers are fresh per measurement, or reused within a round in `--quick` / `--smoke` (WS3 and
 * WS4 still get fresh ones in `--quick`: one measures the server's memory, the other its first
 * logins); `drain` stops the reused ones. `--smoke` starts both servers at once, while the cells
 * before these run.
 * `--ws-from dist` runs hotaru's node from the compiled package (`npm run build` first; see
 * `bench/servers/hotaruWs.ts`), every title then says so.
 */
import { parseArgs } from "../args.js"

/** The `--only` names of these cells (`ws` stands for all of them). */
export const workloads = ["ws1", "ws2", "ws3", "ws4"]

interface Server {
  readonly pid: number
  readonly port: number
  readonly pids: ReadonlyArray<number>
  readonly stop: () => Promise<void>
}

/** What `bench/run.ts` lends these cells. */
export interface Runner<M> {
  readonly only: ReadonlySet<string>
  readonly smoke: boolean
  readonly quick: boolean
  readonly duration: number
  readonly warmup: number
  readonly startServer: (
    name: string,
    script: string,
    extra: ReadonlyArray<string>,
    hotaru: boolean,
    nodeFlags: ReadonlyArray<string>
  ) => Promise<Server>
  readonly runResult: (
    cmd: string,
    argv: ReadonlyArray<string>,
    name: string
  ) => Promise<Record<string, string>>
  readonly tsNode: (script: string, extra: ReadonlyArray<string>, profile: boolean) => Array<string>
  readonly measured: (r: Record<string, string>, metric: string) => M
}

/** A cell as `bench/run.ts` prints it (its `Cell`, over the runner's measurement type). */
export interface WsCell<M> {
  readonly workload: string
  readonly title: string
  readonly unit: string
  readonly sides: ReadonlyArray<{ readonly label: string; readonly run: () => Promise<M> }>
  readonly versus?: string
  readonly detail?: (ms: ReadonlyArray<M>) => string
  readonly target?: { readonly op: ">=" | "<="; readonly value: number; readonly of: "ratio" | "value" }
}

type Kind = "hotaru" | "raw"
const anyOf = (only: ReadonlySet<string>) => workloads.some((w) => only.has(w))
const scripts: Record<Kind, string> = { hotaru: "bench/servers/hotaruWs.ts", raw: "bench/servers/rawWs.ts" }

export const cells = <M extends { readonly raw: Record<string, string> }>(
  r: Runner<M>
): { readonly cells: ReadonlyArray<WsCell<M>>; readonly drain: () => Promise<void> } => {
  const sizes = r.smoke
    ? { ws1: [2], ws2: 20, ws3: 20, ws3Hold: 0.2, ws4: 20 }
    : { ws1: [1, 100], ws2: 1000, ws3: 2000, ws3Hold: r.quick ? 1 : 3, ws4: 1000 }
  const reuse = r.quick
  const pool = new Map<Kind, Promise<Server>>()
  const from = parseArgs(process.argv.slice(2)).get("ws-from") ?? "src"
  if (from !== "src" && from !== "dist") throw new Error(`--ws-from must be src or dist, got ${from}`)
  const fromDist = from === "dist" ? " [hotaru from dist/]" : ""
  const start = (kind: Kind) =>
    r.startServer(`${kind}-ws`, scripts[kind], kind === "hotaru" ? ["--from", from] : [], kind === "hotaru", [
      "--expose-gc"
    ])
  /** Run `f` against a server of `kind`; `fresh` forces a new process outside `--smoke`. */
  const withServer = async <A>(kind: Kind, fresh: boolean, f: (s: Server) => Promise<A>): Promise<A> => {
    if (!reuse || (fresh && !r.smoke)) {
      const s = await start(kind)
      try {
        return await f(s)
      } finally {
        await s.stop()
      }
    }
    let s = pool.get(kind)
    if (s === undefined) {
      s = start(kind)
      pool.set(kind, s)
    }
    return f(await s)
  }
  // --smoke: both servers start now, while the cells before these run (smoke figures mean nothing)
  if (r.smoke && anyOf(r.only)) {
    for (const kind of ["hotaru", "raw"] as const) {
      const started = start(kind)
      started.catch(() => undefined) // a failed start is reported by the cell that awaits it
      pool.set(kind, started)
    }
  }
  const load =
    (kind: Kind, workload: string, metric: string, fresh: boolean, extra: ReadonlyArray<string>) => () =>
      withServer(kind, fresh, (s) =>
        r.runResult(
          process.execPath,
          r.tsNode(
            "bench/ws/wsLoad.ts",
            [
              "--workload",
              workload,
              "--label",
              kind,
              "--port",
              String(s.port),
              "--duration",
              String(r.duration),
              "--warmup",
              String(r.warmup),
              "--server-pid",
              s.pids.join(","),
              ...extra
            ],
            false
          ),
          `load-ws-${kind}-${workload}-${extra.join("")}`
        )
      ).then((result) => r.measured(result, metric))
  const both = (workload: string, metric: string, fresh: boolean, extra: ReadonlyArray<string>) =>
    (["hotaru", "raw"] as const).map((kind) => ({
      label: kind,
      run: load(kind, workload, metric, fresh, extra)
    }))

  const out: Array<WsCell<M>> = []
  if (r.only.has("ws1")) {
    for (const c of sizes.ws1) {
      out.push({
        workload: "ws1",
        title: `WS1 ws echo c=${c}${fromDist}`,
        unit: "msg/s",
        sides: both("ws1", "msgs_per_s", false, ["--conns", String(c)]),
        versus: "raw",
        ...(c >= 100 ? { target: { op: ">=", value: 0.85, of: "ratio" } as const } : {})
      })
    }
  }
  if (r.only.has("ws2")) {
    out.push({
      workload: "ws2",
      title: `WS2 ws fan-out n=${sizes.ws2} [Channel.push; raw: a ws.send loop]${fromDist}`,
      unit: "deliveries/s",
      sides: both("ws2", "deliveries_per_s", false, ["--conns", String(sizes.ws2), "--window", "16"]),
      versus: "raw",
      target: { op: ">=", value: 1, of: "ratio" }
    })
  }
  if (r.only.has("ws3")) {
    out.push({
      workload: "ws3",
      title: `WS3 ws idle n=${sizes.ws3} hold=${sizes.ws3Hold}s [heap+external after GC]${fromDist}`,
      unit: "B/conn",
      sides: both("ws3", "heap_bytes_per_conn", true, [
        "--conns",
        String(sizes.ws3),
        "--hold",
        String(sizes.ws3Hold)
      ]),
      versus: "raw",
      detail: (ms) =>
        ` (rss ${ms.map((m) => Number(m.raw.rss_bytes_per_conn).toLocaleString("en-US")).join("/")} B/conn)`,
      target: { op: "<=", value: 4096, of: "value" }
    })
  }
  if (r.only.has("ws4")) {
    out.push({
      workload: "ws4",
      title: `WS4 ws reconnect storm n=${sizes.ws4} [hotaru: resume; raw: a new login]${fromDist}`,
      unit: "ms",
      sides: (["hotaru", "raw"] as const).map((kind) => ({
        label: kind,
        run: load(kind, "ws4", "storm_ms", true, [
          "--conns",
          String(sizes.ws4),
          "--rejoin",
          kind === "hotaru" ? "resume" : "bind"
        ])
      })),
      versus: "raw",
      target: { op: "<=", value: 2000, of: "value" }
    })
  }
  const drain = async () => {
    const all = [...pool.values()]
    pool.clear()
    for (const s of all)
      await s.then(
        (server) => server.stop(),
        () => undefined
      )
  }
  return { cells: out, drain }
}
