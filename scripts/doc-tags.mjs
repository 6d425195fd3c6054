// Every public export of hotaru-rt carries `@since` and `@category` in its JSDoc (the API
// reference, `npm run docs`, groups by category).
//   node scripts/doc-tags.mjs          check: list the exports missing a tag, exit 1 if any
//   node scripts/doc-tags.mjs --fix    add the missing tags (`@since` = the package version,
//                                      `@category` guessed from the kind and name; review them)
// The public modules are the package's entry points: src/index.ts and src/testing.ts re-export them.
import * as Fs from "node:fs"
import * as Path from "node:path"
import ts from "typescript"

const root = Path.resolve(import.meta.dirname, "..")
const fix = process.argv.includes("--fix")
const version = JSON.parse(Fs.readFileSync(Path.join(root, "package.json"), "utf8")).version

const config = ts.getParsedCommandLineOfConfigFile(Path.join(root, "tsconfig.build.json"), {}, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (d) => {
    throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"))
  }
})
const program = ts.createProgram(config.fileNames, config.options)
const checker = program.getTypeChecker()

/** The statement a declaration's JSDoc belongs to. */
const statementOf = (decl) => (ts.isVariableDeclaration(decl) ? decl.parent.parent : decl)

const category = (decl, name) => {
  if (ts.isClassDeclaration(decl)) {
    const heritage = decl.heritageClauses?.map((h) => h.getText()).join(" ") ?? ""
    if (/Error|TaggedError/.test(heritage) || /Error$/.test(name)) return "errors"
    if (/Context\.Tag|Effect\.Service|Tag\(/.test(heritage)) return "services"
    return "models"
  }
  if (ts.isInterfaceDeclaration(decl) || ts.isTypeAliasDeclaration(decl) || ts.isEnumDeclaration(decl))
    return /Error$/.test(name) ? "errors" : "models"
  if (/^layer/.test(name)) return "layers"
  if (/^(make|from|of)/.test(name) || name === "make") return "constructors"
  if (/^run|^main$/.test(name)) return "running"
  if (/Error$/.test(name)) return "errors"
  return "utils"
}

const entryFiles = ["src/index.ts", "src/testing.ts"].map((f) => Path.join(root, f))
const seen = new Set()
const todo = [] // { file, decl, name, missing: [...] }
const visitModule = (moduleSymbol) => {
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
    const decl = symbol.declarations?.[0]
    if (decl === undefined) continue
    if (ts.isSourceFile(decl)) {
      // `export * as Name from "./Name.js"`: a public module
      if (!seen.has(decl.fileName)) {
        seen.add(decl.fileName)
        visitModule(symbol)
      }
      continue
    }
    const statement = statementOf(decl)
    const key = `${statement.getSourceFile().fileName}:${statement.pos}`
    if (seen.has(key)) continue
    seen.add(key)
    const tags = ts.getJSDocTags(ts.isVariableStatement(statement) ? decl : statement).map((t) => t.tagName.text)
    const missing = ["since", "category"].filter((t) => !tags.includes(t))
    if (missing.length > 0) todo.push({ decl, statement, name: exported.name, missing })
  }
}
for (const file of entryFiles) {
  const sf = program.getSourceFile(file)
  visitModule(checker.getSymbolAtLocation(sf))
}

if (!fix) {
  for (const { statement, name, missing } of todo) {
    const sf = statement.getSourceFile()
    const { line } = sf.getLineAndCharacterOfPosition(statement.getStart(sf))
    console.log(`${Path.relative(root, sf.fileName)}:${line + 1} ${name}: no @${missing.join(", no @")}`)
  }
  if (todo.length > 0) {
    console.log(`${todo.length} exports miss @since/@category (node scripts/doc-tags.mjs --fix adds them)`)
    process.exit(1)
  }
  console.log("every export has @since and @category")
  process.exit(0)
}

// --fix: edit each file from the end so earlier positions stay valid
const byFile = new Map()
for (const item of todo) {
  const file = item.statement.getSourceFile().fileName
  byFile.set(file, [...(byFile.get(file) ?? []), item])
}
for (const [file, items] of byFile) {
  let text = Fs.readFileSync(file, "utf8")
  const sf = items[0].statement.getSourceFile()
  for (const { decl, statement, name, missing } of items.sort((a, b) => b.statement.pos - a.statement.pos)) {
    const start = statement.getStart(sf)
    const indent = text.slice(text.lastIndexOf("\n", start - 1) + 1, start)
    const lines = missing.map((t) => (t === "since" ? `@since ${version}` : `@category ${category(decl, name)}`))
    const docs = ts.isVariableStatement(statement) ? (statement.jsDoc ?? []) : (statement.jsDoc ?? [])
    const doc = docs[docs.length - 1]
    if (doc === undefined) {
      const block = `/**\n${lines.map((l) => `${indent} * ${l}\n`).join("")}${indent} */\n${indent}`
      text = text.slice(0, start) + block + text.slice(start)
    } else {
      const end = doc.end // just after "*/"
      const body = text.slice(doc.pos, end)
      const inner = body.replace(/^\/\*\*\s*/, "").replace(/\s*\*\/$/, "")
      const multi = body.includes("\n")
      const kept = multi
        ? body.replace(/\n[ \t]*\*\/$/, "")
        : `/**\n${indent} * ${inner}`
      const tagsOnly = inner.trim().startsWith("@")
      const replaced = `${kept}\n${tagsOnly ? "" : `${indent} *\n`}${lines.map((l) => `${indent} * ${l}\n`).join("")}${indent} */`
      text = text.slice(0, doc.pos) + replaced + text.slice(end)
    }
  }
  Fs.writeFileSync(file, text)
  console.log(`${Path.relative(root, file)}: ${items.length} tagged`)
}
