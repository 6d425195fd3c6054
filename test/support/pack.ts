/**
 * The package as npm would publish it, for tests that install it into temp projects:
 * `npm pack` of this checkout (its `prepack` builds `dist/`, unless a `dist/` newer than every
 * source is there), serialized between test files by a
 * lock directory (two builds writing `dist/` at once would corrupt it), and reused while no
 * source is newer than the tarball.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { repo, run } from "./cli.js"

export { repo, run }

/** The environment without `npm_*` variables (set when the suite runs under `npm test`). */
export const cleanEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_"))),
  CI: "",
  ...extra
})

const cache = Path.join(repo, "node_modules/.cache/hotaru-rt-pack")
const lock = Path.join(cache, "lock")

const newest = (path: string): number => {
  const stat = Fs.statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(stat.mtimeMs, ...Fs.readdirSync(path).map((f) => newest(Path.join(path, f))))
}

const oldest = (path: string): number => {
  const stat = Fs.statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.min(...Fs.readdirSync(path).map((f) => oldest(Path.join(path, f))))
}

/** Run `f` holding the pack lock (anything that builds `dist/` must). */
export const withPackLock = async <A>(f: () => Promise<A>): Promise<A> => {
  Fs.mkdirSync(cache, { recursive: true })
  const deadline = Date.now() + 600_000
  for (;;) {
    try {
      Fs.mkdirSync(lock)
      break
    } catch {
      // a lock older than 10 minutes was left by a killed run
      const age = Date.now() - (Fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now())
      if (age > 600_000) Fs.rmSync(lock, { recursive: true, force: true })
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`)
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
  try {
    return await f()
  } finally {
    Fs.rmSync(lock, { recursive: true, force: true })
  }
}

/** The packed tarball of this checkout (packed now unless an up-to-date one exists). */
export const packed = (): Promise<string> =>
  withPackLock(async () => {
    const { name, version } = JSON.parse(Fs.readFileSync(Path.join(repo, "package.json"), "utf8")) as {
      name: string
      version: string
    }
    const tarball = Path.join(cache, `${name}-${version}.tgz`)
    const sources = Math.max(
      ...["src", "bin", "package.json", "tsconfig.json", "tsconfig.build.json", "README.md"].map((f) =>
        newest(Path.join(repo, f))
      )
    )
    if (Fs.existsSync(tarball) && Fs.statSync(tarball).mtimeMs > sources) return tarball
    // a dist/ built after the last source change (CI builds it before the tests) is packed as it
    // is: the prepack build would write the same files again
    const built = Fs.existsSync(Path.join(repo, "dist")) && oldest(Path.join(repo, "dist")) > sources
    await run(
      "npm",
      ["pack", "--silent", "--pack-destination", cache, ...(built ? ["--ignore-scripts"] : [])],
      {
        cwd: repo,
        env: cleanEnv(),
        timeout: 300_000,
        maxBuffer: 16 * 1024 * 1024
      }
    )
    return tarball
  })

/** `npm install` in a temp project, from npm's cache where it can (the registry is reachable). */
export const npmInstall = (dir: string, args: ReadonlyArray<string> = []) =>
  run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", ...args], {
    cwd: dir,
    timeout: 360_000,
    maxBuffer: 16 * 1024 * 1024,
    env: cleanEnv()
  })
