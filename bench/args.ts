/**
 * `--key value` / `--flag` parsing for the bench scripts (no dependency, no validation beyond
 * what each script asks for).
 */
export const parseArgs = (argv: ReadonlyArray<string>): Map<string, string> => {
  const out = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith("--")) continue
    const key = a.slice(2)
    const next = argv[i + 1]
    if (next !== undefined && !next.startsWith("--")) {
      out.set(key, next)
      i++
    } else {
      out.set(key, "true")
    }
  }
  return out
}

export const numberArg = (args: Map<string, string>, key: string, fallback: number): number => {
  const v = args.get(key)
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isFinite(n)) throw new Error(`--${key} must be a number, got ${v}`)
  return n
}

export const boolArg = (args: Map<string, string>, key: string, fallback: boolean): boolean => {
  const v = args.get(key)
  if (v === undefined) return fallback
  return v === "true" || v === "1" || v === "on"
}
