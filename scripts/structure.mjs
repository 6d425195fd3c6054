// The shape rules of src/ (CONTRIBUTING: "no source file over 500 lines, no function over 150"):
//   1. no file under src/ is longer than 500 lines;
//   2. no function (declaration, arrow, method, generator body) spans more than 150 lines;
//   3. code under src/internal/ never value-imports a public module (src/*.ts): public modules
//      re-export internal machinery, not the other way round. Type-only imports are allowed,
//      as in Effect's own packages (an internal module may name a public type).
// Prints every offender; exits 1 on one not listed in scripts/structure-baseline.txt (the ones
// left from before the check, shrinking as they are split).  node scripts/structure.mjs
import * as Fs from "node:fs"
import * as Path from "node:path"
import ts from "typescript"

const root = Path.resolve(import.meta.dirname, "..")
const src = Path.join(root, "src")
const MAX_FILE = 500
const MAX_FUNCTION = 150

const files = Fs.readdirSync(src, { recursive: true })
  .filter((f) => typeof f === "string" && f.endsWith(".ts"))
  .map((f) => Path.join(src, f))
const offenders = []
const reported = new Set() // `make = (…) => Effect.gen(function* …)`: one function, not two
const rel = (f) => Path.relative(root, f)

const nameOf = (node) => {
  if (node.name !== undefined && ts.isIdentifier(node.name)) return node.name.text
  let p = node.parent
  while (p !== undefined && !ts.isSourceFile(p)) {
    if ((ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && ts.isIdentifier(p.name))
      return p.name.text
    if (ts.isFunctionLike(p) && p.name !== undefined && ts.isIdentifier(p.name)) return `${p.name.text} (inner)`
    p = p.parent
  }
  return "<anonymous>"
}

for (const file of files) {
  const text = Fs.readFileSync(file, "utf8")
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const lines = sf.getLineAndCharacterOfPosition(text.length).line + 1
  if (lines > MAX_FILE) offenders.push(`${rel(file)}: ${lines} lines (max ${MAX_FILE})`)
  const internal = file.startsWith(Path.join(src, "internal") + Path.sep)
  const visit = (node) => {
    if (
      (ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isArrowFunction(node) ||
        ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isGetAccessor(node)) &&
      node.body !== undefined
    ) {
      const start = sf.getLineAndCharacterOfPosition(node.body.getStart(sf)).line
      const end = sf.getLineAndCharacterOfPosition(node.body.getEnd()).line
      const span = end - start + 1
      const key = `${file}:${nameOf(node)}`
      if (span > MAX_FUNCTION && !reported.has(key) && reported.add(key)) offenders.push(`${rel(file)}:${start + 1}: function ${nameOf(node)} is ${span} lines (max ${MAX_FUNCTION})`)
    }
    if (internal && (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined) {
      const spec = node.moduleSpecifier.text
      const typeOnly = ts.isImportDeclaration(node)
        ? node.importClause?.isTypeOnly === true ||
          (node.importClause?.namedBindings !== undefined && ts.isNamedImports(node.importClause.namedBindings) &&
            node.importClause.name === undefined && node.importClause.namedBindings.elements.every((e) => e.isTypeOnly))
        : node.isTypeOnly
      if (spec.startsWith(".") && !typeOnly) {
        const target = Path.resolve(Path.dirname(file), spec)
        if (!target.startsWith(Path.join(src, "internal") + Path.sep))
          offenders.push(`${rel(file)}: imports the public module ${Path.relative(root, target)} (internal code may only import its types)`)
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
}
// A ratchet while the split goes on: scripts/structure-baseline.txt lists the offenders that were
// there when the check came in (one key a line: the offender without its line number and size).
// Those are printed as still to do; a new one fails, and so does a listed one that is gone (take
// it out of the list, so it cannot come back).
const keyOf = (o) => o.replace(/:\d+: /, ": ").replace(/ is \d+ lines.*$/, "").replace(/: \d+ lines \(max \d+\)$/, ": file")
const baselineFile = Path.join(root, "scripts", "structure-baseline.txt")
const baseline = new Set(
  Fs.existsSync(baselineFile)
    ? Fs.readFileSync(baselineFile, "utf8").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"))
    : []
)
const known = offenders.filter((o) => baseline.has(keyOf(o)))
const fresh = offenders.filter((o) => !baseline.has(keyOf(o)))
const keys = new Set(offenders.map(keyOf))
const gone = [...baseline].filter((k) => !keys.has(k))
for (const o of known) console.log(`still to split: ${o}`)
for (const o of fresh) console.log(`NEW: ${o}`)
for (const k of gone) console.log(`fixed, take it out of scripts/structure-baseline.txt: ${k}`)
if (process.argv.includes("--baseline")) {
  Fs.writeFileSync(baselineFile, `# offenders left to split (node scripts/structure.mjs --baseline rewrites this)\n${[...keys].sort().join("\n")}\n`)
  process.exit(0)
}
if (fresh.length > 0 || gone.length > 0) {
  console.log(`structure: ${fresh.length} new offender(s), ${gone.length} fixed one(s) still listed`)
  process.exit(1)
}
if (offenders.length > 0) {
  console.log(`structure: no new offender; ${known.length} listed in scripts/structure-baseline.txt still to split`)
  process.exit(0)
}
console.log(`structure: ${files.length} files, none over ${MAX_FILE} lines, no function over ${MAX_FUNCTION}, no internal → public import`)
