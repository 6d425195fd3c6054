/**
 * Resolving a server's `app` / `reload` entry (a dotted module name or a path) to a file.
 *
 * @since 0.1.0
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { ConfigError } from "./configError.js"
import type { Loaded } from "./loaded.js"
/**
 * Candidate files of an `app` / `reload` entry: firefly's dotted module name
 * (`app.gateserver` → `app/gateserver.ts`, `.js`) or a path, relative to the config's directory.
 *
 * @since 0.1.0
 * @category utils
 */
export const moduleCandidates = (dir: string, spec: string, path: Path.Path): ReadonlyArray<string> => {
  const looksLikePath = spec.includes("/") || /\.(m|c)?(t|j)s$/.test(spec)
  if (looksLikePath) return [path.resolve(dir, spec)]
  const base = path.resolve(dir, ...spec.split("."))
  return [
    `${base}.ts`,
    `${base}.js`,
    `${base}.mts`,
    `${base}.mjs`,
    path.join(base, "index.ts"),
    path.join(base, "index.js")
  ]
}

/**
 * Resolve a server's `app` (or `reload`) module to an existing file.
 *
 * @since 0.1.0
 * @category utils
 */
export const resolveModule = (
  loaded: Loaded,
  server: string,
  key: "app" | "reload"
): Effect.Effect<string | undefined, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const spec = loaded.config.servers[server]?.[key]
    if (spec === undefined) return undefined
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const candidates = moduleCandidates(loaded.dir, spec, path)
    for (const candidate of candidates) {
      if (yield* fs.exists(candidate).pipe(Effect.orElseSucceed(() => false))) return candidate
    }
    return yield* new ConfigError({
      reason: "Invalid",
      file: loaded.file,
      issues: [
        `servers.${server}.${key}: "${spec}" resolves to no file (tried ${candidates
          .map((c) => path.relative(loaded.dir, c))
          .join(", ")})`
      ]
    })
  })

/** Check the `app` and `reload` module of every server whose app is not given in code exists. */
export const checkModules = (loaded: Loaded, inCode: ReadonlyArray<string>) =>
  Effect.forEach(
    Object.keys(loaded.config.servers).filter((name) => !inCode.includes(name)),
    (name) => Effect.zipRight(resolveModule(loaded, name, "app"), resolveModule(loaded, name, "reload")),
    { discard: true }
  )
