/**
 * The `ws.tls` block of a server: the PEM certificate chain and key its `wsport` serves
 * `wss://` with, read from files relative to the config's directory.
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { ConfigError } from "./configError.js"
import type { Loaded } from "./loaded.js"

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
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const read = (key: "cert" | "key") => {
      const file = path.resolve(loaded.dir, tls[key])
      return fs.readFileString(file).pipe(
        Effect.mapError(
          (e) =>
            new ConfigError({
              reason: "Invalid",
              file: loaded.file,
              issues: [`servers.${server}.ws.tls.${key}: cannot read ${file} (${e.message})`]
            })
        )
      )
    }
    return { cert: yield* read("cert"), key: yield* read("key") }
  })
