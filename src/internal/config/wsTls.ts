/**
 * Files a config names (TLS certificates and keys), read relative to the config's directory: a
 * file that cannot be read is a `ConfigError` naming the key that names it. Also the `ws.tls`
 * block of a server: the PEM certificate chain and key its `wsport` serves `wss://` with.
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { ConfigError } from "./configError.js"
import type { Loaded } from "./loaded.js"

/** Read the file `relative` (to the config's directory) that config key `key` names. */
export const readNamedFile = (
  loaded: Loaded,
  key: string,
  relative: string
): Effect.Effect<string, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const file = path.resolve(loaded.dir, relative)
    return yield* fs.readFileString(file).pipe(
      Effect.mapError(
        (e) =>
          new ConfigError({
            reason: "Invalid",
            file: loaded.file,
            issues: [`${key}: cannot read ${file} (${e.message})`]
          })
      )
    )
  })

/** Read the certificate and key a server's `ws.tls` names. */
export const readWsTls = (
  loaded: Loaded,
  server: string,
  tls: { readonly cert: string; readonly key: string }
): Effect.Effect<
  { readonly cert: string; readonly key: string },
  ConfigError,
  FileSystem.FileSystem | Path.Path
> =>
  Effect.all({
    cert: readNamedFile(loaded, `servers.${server}.ws.tls.cert`, tls.cert),
    key: readNamedFile(loaded, `servers.${server}.ws.tls.key`, tls.key)
  })
