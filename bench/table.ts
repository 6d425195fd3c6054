/**
 * Markdown table (median and min..max over rounds) from the JSON lines `bench/run.ts` wrote:
 *   node --import tsx bench/table.ts RESULTS.jsonl
 */
import * as Fs from "node:fs"

interface Row {
  readonly round: number
  readonly cell: string
  readonly side: string
  readonly [key: string]: string | number
}

const file = process.argv[2]
if (file === undefined) throw new Error("usage: table.ts RESULTS.jsonl")
const rows = Fs.readFileSync(file, "utf8")
  .split("\n")
  .filter((l) => l.trim().length > 0)
  .map((l) => JSON.parse(l) as Row)

const metricOf = (r: Row): string =>
  r.msgs_per_s !== undefined
    ? "msgs_per_s"
    : r.deliveries_per_s !== undefined
      ? "deliveries_per_s"
      : r.calls_per_s !== undefined
        ? "calls_per_s"
        : r.failover_ms !== undefined
          ? "failover_ms"
          : r.storm_ms !== undefined
            ? "storm_ms"
            : r.heap_bytes_per_conn !== undefined
              ? "heap_bytes_per_conn"
              : "bytes_per_conn"

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2
}
const int = (n: number) => Math.round(n).toLocaleString("en-US")
const spread = (xs: ReadonlyArray<number>, f: (n: number) => string) =>
  xs.length > 1 ? `${f(median(xs))} (${f(Math.min(...xs))}..${f(Math.max(...xs))})` : f(xs[0]!)

const cells = [...new Set(rows.map((r) => r.cell))]
/** The columns of the sides this run measured. */
const sides = ["hotaru", "raw", "pinus", "stock @effect/rpc", "W2 direct link"].filter((s) =>
  rows.some((r) => r.side === s)
)
const versusOf = (cell: string) =>
  cell.startsWith("W2")
    ? "pinus"
    : cell.startsWith("W5")
      ? "stock @effect/rpc"
      : cell.startsWith("W6")
        ? "W2 direct link"
        : "raw"

console.log(`| cell | ${sides.join(" | ")} | hotaru p50 / p99 ms | ratio (per round, median) |`)
console.log(`|---|${sides.map(() => "---").join("|")}|---|---|`)
for (const cell of cells) {
  const of = (side: string) => rows.filter((r) => r.cell === cell && r.side === side)
  const values = (side: string) => of(side).map((r) => Number(r[metricOf(r)]))
  const hot = of("hotaru")
  const versus = of(versusOf(cell))
  const ratios = hot
    .map((h) => {
      const v = versus.find((x) => x.round === h.round)
      return v === undefined ? Number.NaN : Number(h[metricOf(h)]) / Number(v[metricOf(v)])
    })
    .filter((x) => Number.isFinite(x))
  const latency =
    hot.length > 0 && hot[0]!.p50_ms !== undefined
      ? `${spread(
          hot.map((r) => Number(r.p50_ms)),
          (n) => n.toFixed(3)
        )} / ${spread(
          hot.map((r) => Number(r.p99_ms)),
          (n) => n.toFixed(2)
        )}`
      : ""
  const cols = sides.map((s) => (values(s).length > 0 ? spread(values(s), int) : "–"))
  const ratio = ratios.length > 0 ? `${spread(ratios, (n) => n.toFixed(2))} vs ${versusOf(cell)}` : "–"
  console.log(`| ${cell} | ${cols.join(" | ")} | ${latency} | ${ratio} |`)
}
