/**
 * Summarise `.cpuprofile` files (from `node --cpu-prof`, or `npm run bench -- --profile DIR`, whose
 * arena nodes write `front-PID-1.cpuprofile`, `runner1-PID-1.cpuprofile` over W6's measured window):
 * self and inclusive time by package, by file and by function, and the entity path's cost centres.
 *
 *   node --import tsx bench/profileSummary.ts FILE.cpuprofile [FILE…] [--top 30] [--focus a,b]
 *     [--skip S] [--msgs N] [--tables package,file,function,centres,focus] [--callers a,b]
 *
 * Percentages are of the busy time (every sample but `(idle)`; the idle share is printed apart).
 * `--msgs N` (the messages answered in the profiled window: msg/s × seconds of the bench's line)
 * adds the µs per message of each row. `--skip S` leaves out the first S seconds (start-up).
 * Inclusive time counts a sample once for each distinct row on its stack. With several files,
 * each is summarised on its own.
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

const argv = process.argv.slice(2)
const firstFlag = argv.findIndex((a) => a.startsWith("--"))
const files = firstFlag < 0 ? argv : argv.slice(0, firstFlag)
const args = parseArgs(firstFlag < 0 ? [] : argv.slice(firstFlag))
if (files.length === 0) {
  throw new Error(
    "usage: profileSummary.ts FILE.cpuprofile [FILE…] [--top N] [--focus a,b] [--skip S] [--msgs N]"
  )
}
const top = numberArg(args, "top", 30)
const focus = (args.get("focus") ?? "").split(",").filter((s) => s.length > 0)
const skipUs = numberArg(args, "skip", 0) * 1e6
const msgs = numberArg(args, "msgs", 0)
/**
 * `--callers a,b`: for each, the time under it split by the nearest frame up the stack that is not
 * Node's own JS, native, or the effect runtime (`--through RE` changes which frames are skipped).
 */
const callers = (args.get("callers") ?? "").split(",").filter((s) => s.length > 0)
const through = new RegExp(args.get("through") ?? "^(node:|\\(native|effect/)")
const tables = new Set((args.get("tables") ?? "package,file,function,centres,focus").split(","))

/** Where a script lives: `pkg/path` in node_modules, `node:x`, or the path inside the checkout. */
const where = (url: string): string => {
  if (url === "") return "(native/vm)"
  const nm = url.lastIndexOf("node_modules/")
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split("/")
    const scoped = rest[0]!.startsWith("@")
    const pkg = scoped ? `${rest[0]}/${rest[1]}` : rest[0]!
    return `${pkg}/${rest
      .slice(scoped ? 2 : 1)
      .join("/")
      .replace(/^dist\/(esm|cjs)\//, "")}`
  }
  if (url.startsWith("node:")) return url
  const m = /\/(src|examples|bench|test)\//.exec(url)
  return m === null ? url : url.slice(m.index + 1)
}
const packageOf = (url: string): string => {
  if (url === "") return "(native/vm)"
  const nm = url.lastIndexOf("node_modules/")
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split("/")
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  if (url.startsWith("node:")) return "node (built-in JS)"
  return `hotaru ${where(url).split("/")[0]}/`
}
const label = (n: ProfileNode) =>
  `${n.callFrame.functionName || "(anonymous)"} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`
/** Self time of native frames goes under their own name (`(garbage collector)`, `writeBuffer`…). */
const fileOf = (n: ProfileNode) =>
  n.callFrame.url === "" ? `(${n.callFrame.functionName})` : where(n.callFrame.url)

/**
 * The entity path's cost centres: a sample is in a centre when a frame of one of its files is on
 * the stack (so centres overlap: a schema decode inside the mailbox counts in both).
 */
const centres: ReadonlyArray<readonly [string, RegExp]> = [
  ["schema encode/decode (effect Schema, ParseResult)", /^effect\/(ParseResult|Schema|SchemaAST)\.js/],
  ["msgpack (msgpackr)", /^msgpackr\//],
  ["JSON (hotaru net frames)", /^\(JSON|^node:internal\/.*json/],
  ["SQL driver (@effect/sql*, mysql2)", /^(@effect\/sql|@effect\/sql-mysql2|mysql2|sqlstring|lru-cache)\//],
  ["cluster Sharding.js", /^@effect\/cluster\/Sharding\.js/],
  ["cluster entityManager (mailbox, entity fibers)", /^@effect\/cluster\/internal\/entityManager\.js/],
  ["cluster MessageStorage / SqlMessageStorage", /^@effect\/cluster\/(Sql)?MessageStorage\.js/],
  ["cluster Runners / RunnerServer", /^@effect\/cluster\/(Runners|RunnerServer)\.js/],
  [
    "cluster Entity / EntityProxy / client",
    /^@effect\/cluster\/(Entity|EntityProxy|internal\/entityReaper)\.js/
  ],
  ["cluster Envelope / Reply / Message", /^@effect\/cluster\/(Envelope|Reply|Message)\.js/],
  ["@effect/rpc RpcServer", /^@effect\/rpc\/RpcServer\.js/],
  ["@effect/rpc RpcClient", /^@effect\/rpc\/RpcClient\.js/],
  ["@effect/rpc RpcSerialization", /^@effect\/rpc\/RpcSerialization\.js/],
  ["socket (@effect/platform Socket, NodeSocket, node:net)", /(Socket\.js|^node:net|stream_base_commons)/],
  ["hotaru src/", /^src\//],

  ["garbage collector", /^\(garbage collector\)$/]
]

const pct = (us: number, total: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`
const bump = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v)

const print = (title: string, m: Map<string, number>, busy: number, limit = top) => {
  console.log(`\n${title}${msgs > 0 ? " (share of busy time, µs per message)" : ""}`)
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
    const perMsg = msgs > 0 ? `${(v / msgs).toFixed(1).padStart(8)} µs  ` : ""
    console.log(`${pct(v, busy)}  ${perMsg}${k}`)
  }
}

const summarise = (file: string) => {
  const profile = JSON.parse(Fs.readFileSync(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

  const self = new Map<number, number>()
  let total = 0
  let idle = 0
  let elapsed = 0
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0
    elapsed += dt
    if (elapsed < skipUs) return
    total += dt
    if (byId.get(id)?.callFrame.functionName === "(idle)") idle += dt
    else self.set(id, (self.get(id) ?? 0) + dt)
  })
  const busy = total - idle

  /** Inclusive time: each sample once for every distinct key its stack maps to. */
  const inclusive = (keys: (n: ProfileNode) => ReadonlyArray<string>) => {
    const m = new Map<string, number>()
    for (const [id, us] of self) {
      const seen = new Set<string>()
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        for (const k of keys(byId.get(cur)!)) {
          if (!seen.has(k)) {
            seen.add(k)
            bump(m, k, us)
          }
        }
      }
    }
    return m
  }
  const selfBy = (key: (n: ProfileNode) => string) => {
    const m = new Map<string, number>()
    for (const [id, us] of self) bump(m, key(byId.get(id)!), us)
    return m
  }

  console.log(
    `\n=== ${file}: ${(total / 1e6).toFixed(2)} s sampled, busy ${(busy / 1e6).toFixed(2)} s ` +
      `(${((100 * busy) / Math.max(1, total)).toFixed(0)}%)` +
      (msgs > 0 ? `, ${msgs} messages: ${(busy / msgs).toFixed(0)} µs busy per message` : "")
  )
  const packageKey = (n: ProfileNode) =>
    n.callFrame.url === "" ? `(${n.callFrame.functionName})` : packageOf(n.callFrame.url)
  if (tables.has("package")) {
    print("self time by package", selfBy(packageKey), busy)
    print(
      "inclusive time by package",
      inclusive((n) => (n.callFrame.url === "" ? [] : [packageOf(n.callFrame.url)])),
      busy
    )
  }
  if (tables.has("centres")) {
    print(
      "inclusive time by cost centre",
      inclusive((n) => {
        const f = fileOf(n)
        return centres.filter(([, re]) => re.test(f)).map(([name]) => name)
      }),
      busy,
      centres.length
    )
  }
  if (tables.has("file")) {
    print("self time by file", selfBy(fileOf), busy)
    print(
      "inclusive time by file",
      inclusive((n) => (n.callFrame.url === "" ? [] : [fileOf(n)])),
      busy
    )
  }
  if (tables.has("function")) {
    print("self time by function", selfBy(label), busy)
    print(
      "inclusive time by function",
      inclusive((n) => [label(n)]),
      busy
    )
  }
  if (tables.has("focus") && focus.length > 0) {
    print(
      "inclusive time of focused functions",
      inclusive((n) => focus.filter((f) => label(n).includes(f))),
      busy
    )
  }
  for (const c of callers) {
    // a sample under `c` counts once, for the caller of its outermost `c` frame
    const m = new Map<string, number>()
    for (const [id, us] of self) {
      let outer: number | undefined
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        if (label(byId.get(cur)!).includes(c)) outer = cur
      }
      if (outer === undefined) continue
      let up = parent.get(outer)
      while (up !== undefined && through.test(where(byId.get(up)!.callFrame.url || "(native")))
        up = parent.get(up)
      bump(m, up === undefined ? "(none)" : label(byId.get(up)!), us)
    }
    print(`callers of ${c}`, m, busy)
  }
}

for (const file of files) summarise(file)
