/**
 * The files a master keeps beside its config (mode 0600): the generated admin token, and the
 * snapshot of the validated config its nodes start with. `tokenFile` and `snapshotFile` are
 * re-exported by the public `Master` module.
 *
 * @internal
 */
import { randomBytes } from "node:crypto"
import { unlink } from "node:fs/promises"
import type { Path } from "@effect/platform"
import { Effect, Redacted, type Scope } from "effect"
import type * as HotaruConfig from "../../HotaruConfig.js"
import * as PrivateFile from "../config/privateFile.js"
import { toJsonText } from "../config/schema.js"
import type { Secret } from "../config/secret.js"
import { MasterError } from "./masterErrors.js"

/**
 * Where a master without a configured token keeps its generated one.
 *
 * @since 0.1.0
 * @category utils
 */
export const tokenFile = (loaded: HotaruConfig.Loaded, path: Path.Path): string =>
  path.join(loaded.dir, ".hotaru-admin-token")

/**
 * Where a master keeps the config snapshot its nodes start with (beside the config, so relative `app` paths resolve).
 *
 * @since 0.1.0
 * @category utils
 */
export const snapshotFile = (loaded: HotaruConfig.Loaded, path: Path.Path): string =>
  path.join(loaded.dir, `.hotaru-config-${process.pid}.json`)

/**
 * The admin token: `given`, else the one in the token file beside the config, else a generated
 * one written there (0600) and removed when the scope closes.
 */
export const adminToken = (
  given: Secret | undefined,
  loaded: HotaruConfig.Loaded,
  path: Path.Path
): Effect.Effect<Secret, MasterError, Scope.Scope> =>
  Effect.gen(function* () {
    if (given !== undefined) return given
    const file = tokenFile(loaded, path)
    const ensured = yield* PrivateFile.ensure(file, () => randomBytes(18).toString("base64url")).pipe(
      Effect.mapError((e) => new MasterError({ reason: "Token", detail: e.message }))
    )
    if (ensured.created) {
      yield* Effect.addFinalizer(() => Effect.promise(() => unlink(file).catch(() => undefined)))
    }
    return Redacted.make(ensured.token)
  })

/** Write the snapshot of `config` at `snapshotPath` (0600), removed when the scope closes. */
export const writeSnapshot = (
  snapshotPath: string,
  config: HotaruConfig.HotaruConfig
): Effect.Effect<void, MasterError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* PrivateFile.writePrivate(snapshotPath, toJsonText(config)).pipe(
      Effect.mapError((e) => new MasterError({ reason: "Snapshot", detail: e.message }))
    )
    yield* Effect.addFinalizer(() =>
      Effect.promise(() =>
        Promise.all(
          [unlink(snapshotPath), unlink(`${snapshotPath}.tmp`)].map((p) => p.catch(() => undefined))
        )
      )
    )
  })
