/**
 * Summarise a `.cpuprofile` (from `node --cpu-prof`, or `npm run bench -- --profile DIR`):
 * self time by function and by package/file, and inclusive time of the functions you name.
 *   node --import tsx bench/profileSummary.ts FILE.cpuprofile [--top 30] [--focus name,name] [--skip S]
 * `--skip S` leaves out the first S seconds of the profile (start-up: module loading, warm-up).
 */
import * as Fs from "node:fs"
import { numberArg, parseArgs } from "./args.js"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
  }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const args = parseArgs(process.argv.slice(3))
const file = process.argv[2]
if (file === undefined) {
  throw new Error("usage: profileSummary.ts FILE.cpuprofile [--top N] [--focus a,b] [--skip S]")
}
const top = numberArg(args, "top", 30)
const focus = (args.get("focus") ?? "").split(",").filter((s) => s.length > 0)
const skipUs = numberArg(args, "skip", 0) * 1e6
const profile = JSON.parse(Fs.readFileSync(file, "utf8")) as Profile

const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

const self = new Map<number, number>()
let total = 0
let elapsed = 0
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0
  elapsed += dt
  if (elapsed < skipUs) return
  self.set(id, (self.get(id) ?? 0) + dt)
  total += dt
})

const where = (url: string): string => {
  if (url === "") return "(native/vm)"
  const nm = url.lastIndexOf("node_modules/")
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split("/")
    const pkg = rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!
    return `${pkg}/${rest.slice(rest[0]!.startsWith("@") ? 2 : 1).join("/")}`
  }
  if (url.startsWith("node:")) return url
  const i = url.indexOf("/main/")
  return i >= 0 ? url.slice(i + 6) : url
}
const label = (n: ProfileNode) =>
  `${n.callFrame.functionName || "(anonymous)"} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`

const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`

const bump = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v)
const byFunction = new Map<string, number>()
const byFile = new Map<string, number>()
for (const [id, us] of self) {
  const n = byId.get(id)!
  bump(byFunction, label(n), us)
  const w = where(n.callFrame.url)
  bump(byFile, n.callFrame.url === "" ? `(${n.callFrame.functionName})` : w, us)
}

const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`)
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`)
}
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`)
print("self time by function", byFunction)
print("self time by file", byFile)

// inclusive time by function: a sample counts once for every distinct function on its stack
const inclusiveAll = new Map<string, number>()
for (const [id, us] of self) {
  const seen = new Set<string>()
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur)!)
    if (!seen.has(l)) {
      seen.add(l)
      bump(inclusiveAll, l, us)
    }
  }
}
print("inclusive time by function", inclusiveAll)

if (focus.length > 0) {
  // inclusive time: a sample counts once for every focused function on its stack
  const inclusive = new Map<string, number>()
  for (const [id, us] of self) {
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!
      for (const f of focus) {
        if (!seen.has(f) && label(n).includes(f)) {
          seen.add(f)
          bump(inclusive, f, us)
        }
      }
    }
  }
  print("inclusive time of focused functions", inclusive)
}
