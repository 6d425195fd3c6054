/**
 * Importing a node's `app` (or `reload`) module and checking its default export is a Layer.
 *
 * @since 0.1.0
 */
import { pathToFileURL } from "node:url"
import { FileSystem, Path } from "@effect/platform"
import { Effect, Layer } from "effect"
import type { App } from "../../Node.js"
import { NodeError } from "../control/nodeError.js"
import { resolveModule } from "./appModule.js"
import type { Loaded } from "./loaded.js"
import { ensureLoadable } from "./typescript.js"

/**
 * Import a node's `app` module (or, with `key: "reload"`, its `reload` module, falling back to
 * `app`) and check its default export is a Layer. `fresh` bypasses the module cache (reload).
 *
 * @since 0.1.0
 * @category utils
 */
export const importApp = (
  loaded: Loaded,
  name: string,
  options: { readonly key?: "app" | "reload"; readonly fresh?: string } = {}
): Effect.Effect<
  { readonly file: string; readonly app: App } | undefined,
  NodeError,
  FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function* () {
    const reason = options.key === "reload" ? "Reload" : "AppLoad"
    const fromReload = options.key === "reload" ? yield* resolveModule(loaded, name, "reload") : undefined
    const file = fromReload ?? (yield* resolveModule(loaded, name, "app"))
    if (file === undefined) return undefined
    yield* ensureLoadable(file).pipe(
      Effect.mapError(
        (e) => new NodeError({ reason, node: name, detail: `cannot import ${file}: ${e.message}` })
      )
    )
    const url = pathToFileURL(file).href + (options.fresh === undefined ? "" : `?reload=${options.fresh}`)
    const module = yield* Effect.tryPromise({
      try: () => import(url) as Promise<{ readonly default?: unknown }>,
      catch: (e) =>
        new NodeError({ reason, node: name, detail: `cannot import ${file}: ${(e as Error).message}` })
    })
    if (!Layer.isLayer(module.default)) {
      return yield* new NodeError({
        reason,
        node: name,
        detail: `${file} must export default a Layer (e.g. NetServer.handle(...)), got ${typeof module.default}`
      })
    }
    return { file, app: module.default as App }
  }).pipe(
    Effect.catchTag("ConfigError", (e) =>
      Effect.fail(new NodeError({ reason: "AppLoad", node: name, detail: e.message }))
    )
  )
