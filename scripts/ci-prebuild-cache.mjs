// CI: stores node_modules/better-sqlite3's compiled addon in npm's cache, under the name its
// prebuild-install looks for before it downloads (and, offline, compiles): the next `npm ci` on
// this machine then installs it in a second. Does nothing when it is stored already or when the
// addon is not built. The name is prebuild-install's own (util.js `cachedPrebuild`): the first six
// hex digits of the download URL's sha512, then the URL's file name.
//   node scripts/ci-prebuild-cache.mjs
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"

const pkgDir = Path.resolve(import.meta.dirname, "..", "node_modules", "better-sqlite3")
const addon = Path.join(pkgDir, "build", "Release", "better_sqlite3.node")
if (!Fs.existsSync(addon)) process.exit(0)
const { version } = JSON.parse(Fs.readFileSync(Path.join(pkgDir, "package.json"), "utf8"))
const file = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`
const url = `https://github.com/WiseLibs/better-sqlite3/releases/download/v${version}/${file}`
const npmCache = execFileSync("npm", ["config", "get", "cache"], { encoding: "utf8" }).trim()
const digest = createHash("sha512").update(url).digest("hex").slice(0, 6)
const cached = Path.join(npmCache, "_prebuilds", `${digest}-${file.replace(/[^a-zA-Z0-9.]+/g, "-")}`)
if (Fs.existsSync(cached)) process.exit(0)
Fs.mkdirSync(Path.dirname(cached), { recursive: true })
const tmp = `${cached}.${process.pid}.tmp`
execFileSync("tar", ["-czf", tmp, "-C", pkgDir, "build/Release/better_sqlite3.node"])
Fs.renameSync(tmp, cached)
console.log(`ci: better-sqlite3's addon kept as a prebuild: ${cached}`)
