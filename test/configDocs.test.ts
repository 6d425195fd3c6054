/**
 * The config reference (docs/config.md) and the config Schema say the same: each block's table
 * lists exactly the keys its Schema struct reads (walked from `HotaruConfig.HotaruConfig`'s AST),
 * and every struct of the Schema has its table. The README's tables of config keys are checked
 * the same way.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as HotaruConfig from "../src/HotaruConfig.js"
import { structKeys } from "./support/schemaKeys.js"

const repo = Path.resolve(__dirname, "..")
const read = (file: string) => Fs.readFileSync(Path.join(repo, file), "utf8")

/** The Schema's objects: `""` the top level, `servers.*` a server, `servers.*.limits` its limits… */
const schema = structKeys(HotaruConfig.HotaruConfig.ast)

/**
 * The key tables of a markdown text: each heading naming a block in backticks (`## \`master\``,
 * `## Top level \`(root)\``) owns the first column of the tables below it, up to the next heading.
 * Consecutive headings with no text between share the table that follows them.
 */
const keyTables = (text: string): Map<string, Array<string>> => {
  const tables = new Map<string, Array<string>>()
  let blocks: Array<string> = []
  let gathering = false
  for (const line of text.split("\n")) {
    const heading = /^#{2,4} (.*)$/.exec(line)
    if (heading) {
      const named = /`([^`]+)`\s*$/.exec(heading[1]!)
      const block = named === null ? undefined : named[1] === "(root)" ? "" : named[1]!
      // a heading right after another (nothing between) adds to the same table
      blocks = gathering ? blocks : []
      if (block !== undefined) blocks.push(block)
      gathering = true
      continue
    }
    if (line.trim() !== "") gathering = false
    const row = /^\| `([A-Za-z][A-Za-z0-9]*)` \|/.exec(line)
    if (row && blocks.length > 0) {
      for (const block of blocks) tables.set(block, [...(tables.get(block) ?? []), row[1]!])
    }
  }
  return tables
}

describe("docs/config.md against the config Schema", () => {
  const documented = keyTables(read("docs/config.md"))

  it("reads some blocks (the parser works)", () => {
    expect(schema.get("servers.*")).toContain("netport")
    expect(schema.get("servers.*.limits")).toContain("maxDepth")
    expect(documented.get("servers.*")).toContain("netport")
  })

  it("every block of the Schema has a table listing exactly its keys", () => {
    for (const [block, keys] of schema) {
      const name = block === "" ? "the top level" : `\`${block}\``
      const table = documented.get(block)
      expect(table, `docs/config.md has no table of ${name}`).toBeDefined()
      const undocumented = keys.filter((k) => !table!.includes(k))
      const unknown = table!.filter((k) => !keys.includes(k))
      expect(undocumented, `keys of ${name} the Schema reads that docs/config.md does not list`).toEqual([])
      expect(unknown, `keys docs/config.md lists for ${name} that the Schema does not read`).toEqual([])
    }
  })

  it("documents no block the Schema does not have", () => {
    expect([...documented.keys()].filter((block) => !schema.has(block))).toEqual([])
  })
})

describe("README config key tables against the config Schema", () => {
  // the README's capability table: its keys are keys of a server
  it("the capability table names server keys", () => {
    const text = read("README.md")
    const table = text.slice(text.indexOf("| key | capability | service |"))
    const keys = [...table.slice(0, table.indexOf("\n\n")).matchAll(/^\| `([A-Za-z]+)` \|/gm)].map(
      (m) => m[1]!
    )
    expect(keys.length).toBeGreaterThan(3)
    expect(keys.filter((k) => !schema.get("servers.*")!.includes(k))).toEqual([])
  })

  it("every backticked `block.key` the README names exists in the Schema", () => {
    const text = read("README.md")
    // `sharding.prefix` is a top-level block's key, `limits.maxDepth` and `bind.root` a server's
    const blockOf = (name: string) =>
      schema.has(name) ? name : schema.has(`servers.*.${name}`) ? `servers.*.${name}` : undefined
    const named = [...text.matchAll(/`([a-z][A-Za-z]*)\.([a-z][A-Za-z]*)`/g)].flatMap((m) => {
      const block = blockOf(m[1]!)
      return block === undefined ? [] : [{ block, key: m[2]!, text: m[0] }]
    })
    expect(named.length).toBeGreaterThan(0)
    expect(named.filter((n) => !schema.get(n.block)!.includes(n.key)).map((n) => n.text)).toEqual([])
  })
})
