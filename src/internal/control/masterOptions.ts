/**
 * The checks of a master's options against its config before anything starts: a `master`
 * block, apps given in code only for servers of the config (and only in the in-process mode),
 * `only` naming servers of the config.
 *
 * @internal
 */
import { Effect } from "effect"
import type * as HotaruConfig from "../../HotaruConfig.js"
import type { Mode, Options } from "../../Master.js"
import type * as Node from "../../Node.js"
import { MasterError } from "./masterErrors.js"

/** The options of a master, checked. */
export interface Checked {
  readonly master: HotaruConfig.MasterConfig
  readonly mode: Mode
  /** Every server of the config. */
  readonly names: ReadonlyArray<string>
  readonly apps: Readonly<Record<string, Node.App>>
  /** The nodes the master runs itself. */
  readonly only: ReadonlyArray<string>
  /** The nodes it leaves to host agents. */
  readonly remote: ReadonlyArray<string>
  /** The apps given in code (the config's and `options.apps`): a reload does not import them. */
  readonly appsInCode: ReadonlyArray<string>
}

/** Check `options` (`NoMaster`, `UnknownApp`, `AppsInProcessMode`, `UnknownNode`). */
export const check = (options: Options): Effect.Effect<Checked, MasterError> =>
  Effect.gen(function* () {
    const loaded = options.config
    const config = loaded.config
    const master = config.master
    if (master === undefined) {
      return yield* new MasterError({ reason: "NoMaster", detail: `${loaded.file} has no "master" block` })
    }
    const mode = options.mode ?? "process"
    const names = Object.keys(config.servers)
    const apps: Readonly<Record<string, Node.App>> = options.apps ?? {}
    const strangers = Object.keys(apps).filter((name) => !names.includes(name))
    if (strangers.length > 0) {
      return yield* new MasterError({
        reason: "UnknownApp",
        detail: `apps given for ${strangers.map((n) => `"${n}"`).join(", ")}, which ${loaded.file} has no server of (servers: ${names.join(", ")})`
      })
    }
    if (mode === "process" && Object.keys(apps).length > 0) {
      return yield* new MasterError({
        reason: "AppsInProcessMode",
        detail:
          "apps given in code run in the in-process mode only; in process mode each node is its own " +
          "program: give `entry` a file that calls Main.runNode({ name, config, apps })"
      })
    }
    const only = options.only === undefined ? names : [...new Set(options.only)]
    const unknown = only.filter((name) => !names.includes(name))
    if (unknown.length > 0) {
      return yield* new MasterError({
        reason: "UnknownNode",
        detail: `--only names ${unknown.map((n) => `"${n}"`).join(", ")}, which ${loaded.file} has no server of (servers: ${names.join(", ")})`
      })
    }
    const remote = names.filter((name) => !only.includes(name))
    const appsInCode = [...(loaded.appsInCode ?? []), ...Object.keys(apps)]
    return { master, mode, names, apps, only, remote, appsInCode }
  })
