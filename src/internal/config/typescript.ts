/**
 * Users' TypeScript app modules, imported as they are (the Deno/Bun way): Bun and Deno run them
 * natively; on Node, tsx (an optional peer dependency) is registered in this process the first
 * time a `.ts` module is about to be imported — never by merely importing the library.
 */
import * as Effect from "effect/Effect"
import { importOptional, type MissingPackageError } from "./optionalPackage.js"

/**
 * Whether tsx's hooks are in this process: a process-wide fact (Node's module hooks are global),
 * so it is kept on `globalThis` (bin/hotaru.js sets it too when it registers tsx itself).
 */
const registered = Symbol.for("hotaru-rt/tsx-registered")

const flags = globalThis as unknown as Record<symbol, boolean | undefined>

/** Bun and Deno import TypeScript themselves. */
export const runsTypeScriptNatively = (): boolean => "Bun" in globalThis || "Deno" in globalThis

/** Whether importing `file` on this runtime needs tsx. */
export const needsTsx = (file: string): boolean =>
  /\.(c|m)?tsx?$/.test(file.replace(/\?.*$/, "")) && !runsTypeScriptNatively()

/** Register tsx once if `file` is TypeScript and this runtime cannot import it by itself. */
export const ensureLoadable = (file: string): Effect.Effect<void, MissingPackageError> =>
  !needsTsx(file) || flags[registered] === true
    ? Effect.void
    : importOptional(
        "tsx",
        `importing the TypeScript module ${file} on Node`,
        () => import("tsx/esm/api")
      ).pipe(
        Effect.flatMap(({ register }) =>
          Effect.sync(() => {
            if (flags[registered] !== true) {
              register()
              flags[registered] = true
            }
          })
        )
      )
