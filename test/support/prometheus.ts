/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests: every line is a
 * `# HELP`, a `# TYPE` or a sample; a family's HELP and TYPE come once, before its samples; a
 * sample belongs to the family declared last (counter samples end in `_total`, histogram samples
 * are `_bucket` with `le`, `_sum`, `_count`; summary samples have `quantile`, or are `_sum`,
 * `_count`); label values use only the escapes `\\`, `\"`, `\n`; no series appears twice;
 * histogram buckets are cumulative and end with `le="+Inf"` equal to `_count`. Anything else
 * throws, naming the line.
 */

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped"

export interface Series {
  /** The sample's name (`x_total`, `x_bucket`, ...). */
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Family {
  readonly name: string
  readonly help: string
  readonly type: MetricType
  readonly series: ReadonlyArray<Series>
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/

const parseValue = (text: string, line: number): number => {
  if (text === "NaN") return Number.NaN
  if (text === "+Inf") return Infinity
  if (text === "-Inf") return -Infinity
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text))
    throw new Error(`line ${line}: bad value ${text}`)
  return Number(text)
}

/** The labels of `{...}` starting at `text[0] === "{"`: the labels and the rest after `}`. */
const parseLabels = (text: string, line: number): [Record<string, string>, string] => {
  const labels: Record<string, string> = {}
  let i = 1
  const fail = (why: string): never => {
    throw new Error(`line ${line}: ${why} in ${text}`)
  }
  while (true) {
    if (text[i] === "}") return [labels, text.slice(i + 1)]
    const eq = text.indexOf("=", i)
    if (eq < 0) fail("no = after a label name")
    const name = text.slice(i, eq)
    if (!LABEL.test(name)) fail(`bad label name "${name}"`)
    if (name in labels) fail(`label ${name} twice`)
    if (text[eq + 1] !== '"') fail("a label value must be quoted")
    let value = ""
    let j = eq + 2
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === "\n") fail("raw newline in a label value")
      if (text[j] === "\\") {
        const next = text[++j]
        if (next === "\\") value += "\\"
        else if (next === '"') value += '"'
        else if (next === "n") value += "\n"
        else fail(`bad escape \\${next}`)
      } else value += text[j]
    }
    if (j >= text.length) fail("unterminated label value")
    labels[name] = value
    i = j + 1
    if (text[i] === ",") i++
    else if (text[i] !== "}") fail("expected , or } after a label")
  }
}

const belongs = (family: { name: string; type: MetricType }, series: Series): boolean => {
  const { name, type } = family
  switch (type) {
    case "counter":
      return name.endsWith("_total") && series.name === name
    case "gauge":
    case "untyped":
      return series.name === name
    case "histogram":
      return (
        (series.name === `${name}_bucket` && "le" in series.labels) ||
        series.name === `${name}_sum` ||
        series.name === `${name}_count`
      )
    case "summary":
      return (
        (series.name === name && "quantile" in series.labels) ||
        series.name === `${name}_sum` ||
        series.name === `${name}_count`
      )
  }
}

const key = (series: Series) =>
  `${series.name}{${Object.keys(series.labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(series.labels[k])}`)
    .join(",")}}`

const checkHistogram = (family: Family) => {
  const groups = new Map<string, Array<Series>>()
  for (const s of family.series) {
    const k = JSON.stringify(
      Object.entries(s.labels)
        .filter(([name]) => name !== "le")
        .sort()
    )
    groups.set(k, [...(groups.get(k) ?? []), s])
  }
  for (const series of groups.values()) {
    const buckets = series.filter((s) => s.name.endsWith("_bucket"))
    const count = series.find((s) => s.name.endsWith("_count"))
    if (buckets.length === 0 || count === undefined || series.every((s) => !s.name.endsWith("_sum"))) {
      throw new Error(`histogram ${family.name}: a series lacks buckets, _sum or _count`)
    }
    const les = buckets.map((b) => parseValue(b.labels.le!, 0))
    for (let i = 1; i < buckets.length; i++) {
      if (!(les[i]! > les[i - 1]!) || buckets[i]!.value < buckets[i - 1]!.value) {
        throw new Error(`histogram ${family.name}: buckets not increasing`)
      }
    }
    if (les[les.length - 1] !== Infinity || buckets[buckets.length - 1]!.value !== count.value) {
      throw new Error(`histogram ${family.name}: the last bucket is not le="+Inf" equal to _count`)
    }
  }
}

/** Parse `text` strictly: the families by name. */
export const parse = (text: string): ReadonlyMap<string, Family> => {
  if (text !== "" && !text.endsWith("\n")) throw new Error("the exposition must end with a newline")
  const families = new Map<string, { name: string; help: string; type: MetricType; series: Array<Series> }>()
  const seen = new Set<string>()
  let current: { name: string; help: string; type: MetricType; series: Array<Series> } | undefined
  const lines = text === "" ? [] : text.slice(0, -1).split("\n")
  lines.forEach((raw, index) => {
    const line = index + 1
    if (raw.startsWith("# HELP ")) {
      const [name, ...help] = raw.slice(7).split(" ")
      if (!NAME.test(name!)) throw new Error(`line ${line}: bad metric name in HELP`)
      if (families.has(name!)) throw new Error(`line ${line}: family ${name} declared twice`)
      current = { name: name!, help: help.join(" "), type: "untyped", series: [] }
      families.set(name!, current)
      return
    }
    if (raw.startsWith("# TYPE ")) {
      const [name, type, ...extra] = raw.slice(7).split(" ")
      if (current?.name !== name || current.series.length > 0) {
        throw new Error(`line ${line}: TYPE ${name} does not follow its HELP`)
      }
      if (extra.length > 0 || !["counter", "gauge", "histogram", "summary", "untyped"].includes(type!)) {
        throw new Error(`line ${line}: bad TYPE line`)
      }
      current.type = type as MetricType
      return
    }
    if (raw.startsWith("#") || raw.trim() === "") throw new Error(`line ${line}: unexpected "${raw}"`)
    const nameEnd = raw.search(/[{ ]/)
    const name = raw.slice(0, nameEnd)
    if (!NAME.test(name)) throw new Error(`line ${line}: bad sample name "${name}"`)
    const [labels, rest] =
      raw[nameEnd] === "{" ? parseLabels(raw.slice(nameEnd), line) : [{}, raw.slice(nameEnd)]
    const parts = rest.split(" ")
    if (parts.length !== 2 || parts[0] !== "") throw new Error(`line ${line}: expected one space and a value`)
    const series = { name, labels, value: parseValue(parts[1]!, line) }
    if (current === undefined || !belongs(current, series)) {
      throw new Error(`line ${line}: ${name} is not a sample of the family declared before it`)
    }
    if (seen.has(key(series))) throw new Error(`line ${line}: series ${key(series)} twice`)
    seen.add(key(series))
    current.series.push(series)
  })
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family)
  return families
}

/** The value of the series `name` whose labels include `labels` (undefined: none). */
export const sampleValue = (
  families: ReadonlyMap<string, Family>,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): number | undefined => {
  for (const family of families.values()) {
    for (const s of family.series) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value
    }
  }
  return undefined
}
