/**
 * The README tour's snippets that say where they come from match that file, as
 * test/deployDocs.test.ts checks the deploy docs: a JSON block followed by "That is
 * [`examples/…`]" is that file's JSON, and a TypeScript block introduced by "[`examples/…`](…):"
 * or whose parts start `// app/x.ts` (the demo's app) shows only code the file has (each line, its
 * trailing comment left out and its spacing collapsed, is found in the file; a snippet may leave
 * lines out and join a call's lines into one).
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"

const repo = Path.resolve(__dirname, "..")
const readme = Fs.readFileSync(Path.join(repo, "README.md"), "utf8")

interface Block {
  readonly lang: string
  readonly body: string
  readonly before: string
  readonly after: string
}

const blocks = (text: string): ReadonlyArray<Block> =>
  [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```\n/gm)].map((m) => {
    const start = m.index
    const end = start + m[0].length
    return {
      lang: m[1]!,
      body: m[2]!,
      before: text.slice(0, start).trimEnd().split("\n").at(-1) ?? "",
      after: text.slice(end).trimStart().split("\n")[0] ?? ""
    }
  })

/** Code without comments, every run of whitespace one space, none around punctuation. */
const normalize = (code: string): string =>
  code
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/(^|[^:"'`])\/\/.*$/gm, "$1")
    .replace(/\s+/g, " ")
    .replace(/ ?([(){}[\],;:=<>.+*?|&!-]) ?/g, "$1")
    .replace(/,([)\]}])/g, "$1")
    .trim()

/** The snippet lines (`// app/x.ts` parts split out) not found in their file. */
const missingLines = (body: string, file: string | undefined): Array<string> => {
  const missing: Array<string> = []
  let current = file
  for (const line of body.split("\n")) {
    const part = /^\/\/ (app\/[\w]+\.ts)\b/.exec(line.trim())
    if (part) {
      current = Path.join(repo, "examples/demo", part[1]!)
      continue
    }
    const code = normalize(line)
    if (code === "" || current === undefined) continue
    if (!normalize(Fs.readFileSync(current, "utf8")).includes(code.replace(/[({[,]$/, ""))) {
      missing.push(`${Path.relative(repo, current)}: ${line.trim()}`)
    }
  }
  return missing
}

describe("README tour snippets against the example files", () => {
  const all = blocks(readme)

  it("the JSON said to be an example file is that file", () => {
    const claimed = all.filter((b) => b.lang === "json" && /^That is \[`(examples\/[^`]+)`\]/.test(b.after))
    expect(claimed.length).toBeGreaterThan(0)
    for (const block of claimed) {
      const file = /^That is \[`(examples\/[^`]+)`\]/.exec(block.after)![1]!
      expect(JSON.parse(block.body), file).toEqual(JSON.parse(Fs.readFileSync(Path.join(repo, file), "utf8")))
    }
  })

  it("the TypeScript said to be from an example file shows only what the file has", () => {
    const claimed = all.flatMap((b) => {
      if (b.lang !== "ts") return []
      const intro = /^\[`(examples\/[^`]+\.ts)`\]\([^)]*\):$/.exec(b.before)
      if (intro) return [{ block: b, file: Path.join(repo, intro[1]!) as string | undefined }]
      return /^\/\/ app\/\w+\.ts\b/.test(b.body) ? [{ block: b, file: undefined }] : []
    })
    expect(claimed.length).toBeGreaterThanOrEqual(2)
    for (const { block, file } of claimed) expect(missingLines(block.body, file)).toEqual([])
  })
})
