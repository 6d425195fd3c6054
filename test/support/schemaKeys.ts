/**
 * The keys a Schema struct accepts, read from its AST (`effect/SchemaAST`): every object a config
 * can hold, by its path (`servers.*.limits`; `*` stands for a record's or an array's element).
 * For checking that documentation lists exactly the keys the Schema reads.
 */
import * as SchemaAST from "effect/SchemaAST"

/** Every object in `ast` with a property signature: path → its keys, in Schema order. */
export const structKeys = (ast: SchemaAST.AST): Map<string, Array<string>> => {
  const found = new Map<string, Array<string>>()
  const walk = (node: SchemaAST.AST, path: string, seen: Set<SchemaAST.AST>): void => {
    if (seen.has(node)) return
    const within = new Set(seen).add(node)
    const at = (key: string) => (path === "" ? key : `${path}.${key}`)
    switch (node._tag) {
      case "Transformation":
        walk(node.to, path, within)
        return
      case "Refinement":
        walk(node.from, path, within)
        return
      case "Suspend":
        walk(node.f(), path, within)
        return
      case "Union":
        for (const member of node.types) walk(member, path, within)
        return
      case "TupleType":
        for (const element of node.elements) walk(element.type, at("*"), within)
        for (const rest of node.rest) walk(rest.type, at("*"), within)
        return
      case "TypeLiteral": {
        if (node.propertySignatures.length > 0) {
          const keys = found.get(path) ?? []
          for (const p of node.propertySignatures)
            if (!keys.includes(String(p.name))) keys.push(String(p.name))
          found.set(path, keys)
        }
        for (const p of node.propertySignatures) walk(p.type, at(String(p.name)), within)
        for (const index of node.indexSignatures) walk(index.type, at("*"), within)
        return
      }
      default:
        return
    }
  }
  walk(ast, "", new Set())
  return found
}
