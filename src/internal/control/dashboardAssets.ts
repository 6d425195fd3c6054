/**
 * The dashboard's static files (`dashboard/` at the package root, shipped with it: see
 * `package.json` `files`), read once when the admin web starts. The path is the same from `src/`
 * and from `dist/`.
 *
 * @internal
 */
import { readFile } from "node:fs/promises"
import { Data, Effect } from "effect"

/**
 * The dashboard's files (`dashboard/` in the package) could not be read: a broken install.
 *
 * @since 0.1.0
 * @category errors
 */
export class DashboardAssetsError extends Data.TaggedError("DashboardAssetsError")<{
  readonly reason: "Missing"
  readonly message: string
}> {}

/** The pages, the script and the style sheet. */
export interface Assets {
  readonly index: string
  readonly login: string
  readonly script: string
  readonly style: string
}

const dir = new URL("../../../dashboard/", import.meta.url)

const read = (file: string) =>
  Effect.tryPromise({
    try: () => readFile(new URL(file, dir), "utf8"),
    catch: (cause) =>
      new DashboardAssetsError({
        reason: "Missing",
        message: `cannot read the dashboard's ${file} in ${dir.pathname}: ${String(cause)}`
      })
  })

/** Read every file of the dashboard. */
export const load: Effect.Effect<Assets, DashboardAssetsError> = Effect.all(
  {
    index: read("index.html"),
    login: read("login.html"),
    script: read("dashboard.js"),
    style: read("dashboard.css")
  },
  { concurrency: "unbounded" }
)
