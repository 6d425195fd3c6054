/**
 * Before the suite: the processes tests start run the built `dist/` (`HOTARU_RUN_DIST=1`, see
 * bin/hotaru.js), so it is rebuilt here when a source is newer than it (CI builds it first).
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

const repo = Path.resolve(__dirname, "../..")

const newest = (dir: string, ext: string): number =>
  Fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(ext))
    .reduce((m, e) => Math.max(m, Fs.statSync(Path.join(e.parentPath, e.name)).mtimeMs), 0)

export default function setup(): void {
  const dist = Path.join(repo, "dist")
  const stale =
    !Fs.existsSync(Path.join(dist, "Cli.js")) || newest(Path.join(repo, "src"), ".ts") > newest(dist, ".js")
  if (!stale) return
  console.log("dist/ is older than src/: building it (npm run build) for the process tests")
  execFileSync("npm", ["run", "build"], { cwd: repo, stdio: "inherit" })
}
