/**
 * Samples in the Prometheus text exposition format, version 0.0.4: one `# HELP` and `# TYPE`
 * per family, counters named `<name>_total`, histograms as `_bucket{le=...}` (cumulative, up to
 * `+Inf`), `_sum` and `_count`, summaries as `{quantile=...}`, `_sum`, `_count`; label values
 * escaped (`\\`, `\"`, `\n`), names reduced to `[a-zA-Z_:][a-zA-Z0-9_:]*`.
 *
 * @internal
 */
import type { Sample } from "./snapshot.js"

/** The content type of the format. */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

const metricName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[a-zA-Z_:]/.test(cleaned) ? cleaned : `_${cleaned}`
}

const labelName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_]/g, "_")
  return /^[a-zA-Z_]/.test(cleaned) && !cleaned.startsWith("__") ? cleaned : `l_${cleaned}`
}

/** A label value with `\`, `"` and newlines escaped. */
export const escapeLabel = (value: string): string =>
  value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")

const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

/** A sample value: integers as is, `NaN`, `+Inf`, `-Inf`. */
export const formatNumber = (n: number): string =>
  Number.isNaN(n) ? "NaN" : n === Infinity ? "+Inf" : n === -Infinity ? "-Inf" : String(n)

type Labels = ReadonlyArray<readonly [string, string]>

const labelText = (labels: Labels): string => {
  if (labels.length === 0) return ""
  const seen = new Set<string>()
  const parts: Array<string> = []
  for (const [k, v] of labels) {
    const name = labelName(k)
    if (seen.has(name)) continue // a label given twice: the first wins
    seen.add(name)
    parts.push(`${name}="${escapeLabel(v)}"`)
  }
  return `{${parts.join(",")}}`
}

const typeOf = (sample: Sample): string => sample.value._tag

const familyName = (sample: Sample): string => {
  const name = metricName(sample.name)
  return sample.value._tag === "counter" && !name.endsWith("_total") ? `${name}_total` : name
}

const linesOf = (family: string, sample: Sample): ReadonlyArray<string> => {
  const { labels, value } = sample
  switch (value._tag) {
    case "counter":
    case "gauge":
      return [`${family}${labelText(labels)} ${formatNumber(value.value)}`]
    case "histogram": {
      const buckets = value.buckets
        .filter(([le]) => Number.isFinite(le))
        .map(
          ([le, n]) =>
            `${family}_bucket${labelText([...labels, ["le", formatNumber(le)]])} ${formatNumber(n)}`
        )
      return [
        ...buckets,
        `${family}_bucket${labelText([...labels, ["le", "+Inf"]])} ${formatNumber(value.count)}`,
        `${family}_sum${labelText(labels)} ${formatNumber(value.sum)}`,
        `${family}_count${labelText(labels)} ${formatNumber(value.count)}`
      ]
    }
    case "summary":
      return [
        ...value.quantiles.map(
          ([q, v]) =>
            `${family}${labelText([...labels, ["quantile", formatNumber(q)]])} ${formatNumber(v ?? Number.NaN)}`
        ),
        `${family}_sum${labelText(labels)} ${formatNumber(value.sum)}`,
        `${family}_count${labelText(labels)} ${formatNumber(value.count)}`
      ]
  }
}

/**
 * The exposition of `samples`, families in name order. A family keeps the type of its first
 * sample (samples of another type under the same name are left out), and one sample per label
 * set (the first).
 */
export const render = (samples: ReadonlyArray<Sample>): string => {
  const families = new Map<
    string,
    {
      readonly type: string
      readonly help: string
      readonly seen: Set<string>
      readonly lines: Array<string>
    }
  >()
  for (const sample of samples) {
    const family = familyName(sample)
    let entry = families.get(family)
    if (entry === undefined) {
      entry = { type: typeOf(sample), help: sample.help, seen: new Set(), lines: [] }
      families.set(family, entry)
    }
    if (entry.type !== typeOf(sample)) continue
    const key = labelText([...sample.labels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    if (entry.seen.has(key)) continue
    entry.seen.add(key)
    entry.lines.push(...linesOf(family, sample))
  }
  const out: Array<string> = []
  for (const name of [...families.keys()].sort()) {
    const { help, lines, type } = families.get(name)!
    out.push(`# HELP ${name} ${escapeHelp(help === "" ? name : help)}`, `# TYPE ${name} ${type}`, ...lines)
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`
}
