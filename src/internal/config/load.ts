/**
 * Reading a config file: its text, its JSON, its Schema and cross-checks, its app modules.
 *
 * @since 0.1.0
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { checkModules } from "./appModule.js"
import { ConfigError } from "./configError.js"
import { decode } from "./decode.js"
import type { Loaded } from "./loaded.js"
import { warningsOf } from "./warnings.js"

/** The largest config file read (1 MiB: a topology of thousands of servers fits). */
const MAX_CONFIG_BYTES = 1024 * 1024

/**
 * Options of `load`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadOptions {
  /**
   * Servers whose app is given in code (`TestCluster.make({ apps })`, `Master.make({ apps })`,
   * `Main.runNode({ app })`): their `app`/`reload` entries are not required to name a file.
   */
  readonly apps?: ReadonlyArray<string> | undefined
}

/**
 * Read, decode and check a config file: its schema, its cross-checks, and that the `app` and
 * `reload` modules of every server exist (except those of `options.apps`, given in code).
 *
 * @since 0.1.0
 * @category utils
 */
export const load = (
  file: string,
  options: LoadOptions = {}
): Effect.Effect<Loaded, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const absolute = path.resolve(file)
    // a config is a small regular file: a FIFO, a device or a huge file is refused unread
    const info = yield* fs.stat(absolute).pipe(Effect.option)
    if (info._tag === "Some" && info.value.type !== "File") {
      return yield* new ConfigError({ reason: "NotFound", file, issues: [`not a regular file: ${absolute}`] })
    }
    if (info._tag === "Some" && Number(info.value.size) > MAX_CONFIG_BYTES) {
      return yield* new ConfigError({
        reason: "Invalid",
        file,
        issues: [`the file has ${info.value.size} bytes; a config file may have at most ${MAX_CONFIG_BYTES}`]
      })
    }
    const text = yield* fs.readFileString(absolute).pipe(
      Effect.mapError((e) => {
        const why =
          e._tag === "SystemError" && e.reason === "NotFound"
            ? `no such file: ${absolute}`
            : e._tag === "SystemError" && e.reason === "PermissionDenied"
              ? `permission denied: ${absolute}`
              : e.message
        return new ConfigError({ reason: "NotFound", file, issues: [`cannot read the file (${why})`] })
      })
    )
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) =>
        new ConfigError({ reason: "InvalidJson", file, issues: [`not valid JSON: ${(e as Error).message}`] })
    })
    const config = yield* decode(file, json)
    const loaded: Loaded = {
      file: absolute,
      dir: path.dirname(absolute),
      config,
      warnings: warningsOf(config, json),
      ...(options.apps === undefined || options.apps.length === 0 ? {} : { appsInCode: options.apps })
    }
    yield* checkModules(loaded, options.apps ?? [])
    return loaded
  })
