/**
 * `hotaru init DIR`: a small working project (firefly's `createproject`): a config with a master
 * and one node, an app with an echo command (1), a client script and a test.
 *
 * The project depends on the hotaru that created it: by default this package packed with
 * `npm pack` into the project's `vendor/` (a `file:` dependency, until hotaru-rt is on the
 * registry); `from` names a tarball to copy there instead, or an npm version range to write as is.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { FileSystem, Path } from "@effect/platform"
import { Data, Effect } from "effect"

export class ScaffoldError extends Data.TaggedError("ScaffoldError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

/** What the project's package.json takes from hotaru's own. */
interface Versions {
  /** The `hotaru-rt` dependency: `file:vendor/….tgz` or a version range. */
  readonly hotaru: string
  readonly peers: Readonly<Record<string, string>>
}

const files = (name: string, versions: Versions): Record<string, string> => ({
  "package.json": `${JSON.stringify(
    {
      name,
      private: true,
      type: "module",
      scripts: {
        start: "hotaru start config.json",
        client: "node --import tsx client.ts",
        test: "vitest run",
        typecheck: "tsc"
      },
      dependencies: {
        "hotaru-rt": versions.hotaru,
        effect: versions.peers.effect ?? "^3.22.4",
        "@effect/platform-node": versions.peers["@effect/platform-node"] ?? "^0.108.2",
        // runs the TypeScript app modules on Node (`hotaru start`) and the client script
        tsx: versions.peers.tsx ?? "^4.20.0"
      },
      devDependencies: { "@effect/vitest": "^0.30.0", vitest: "^3.2.0", typescript: "^5.9.0" }
    },
    null,
    2
  )}\n`,
  "config.json": `${JSON.stringify(
    {
      master: { rootport: 9999, webport: 9998 },
      servers: { game: { name: "game", netport: 10001, app: "app.game" } }
    },
    null,
    2
  )}\n`,
  "app/protocol.ts": `import { NetCommand } from "hotaru-rt"

/** Command 1: the server answers the same text. Shared by the app, the client and the test. */
export const Echo = NetCommand.text(1, { name: "echo" })
`,
  "app/game.ts": `import { Effect } from "effect"
import { NetServer } from "hotaru-rt"
import { Echo } from "./protocol.js"

/** The game node's handlers (firefly's @netserviceHandle). */
export default NetServer.handle(Echo, (text, connection) =>
  Effect.as(Effect.log(\`echo from client \${connection.id}: \${text}\`), text)
)
`,
  "client.ts": `import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { Client } from "hotaru-rt"
import { Echo } from "./app/protocol.js"

const program = Effect.gen(function* () {
  const client = yield* Client.connect({ host: "127.0.0.1", port: 10001 })
  yield* Console.log(yield* client.call(Echo, "hello hotaru"))
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
`,
  "test/echo.test.ts": `import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestCluster } from "hotaru-rt/testing"
import { Echo } from "../app/protocol.js"

const config = new URL("../config.json", import.meta.url).pathname

it.scopedLive("the game node echoes", () =>
  Effect.gen(function* () {
    const cluster = yield* TestCluster.make({ config })
    const client = yield* cluster.client("game")
    expect(yield* client.call(Echo, "ping")).toBe("ping")
  })
)
`,
  "tsconfig.json": `${JSON.stringify(
    {
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        skipLibCheck: true,
        noEmit: true
      }
    },
    null,
    2
  )}\n`,
  ".gitignore": "node_modules/\n.hotaru-admin-token\ndata/\n",
  // Deno: the app's `./x.js` imports name `./x.ts` files (TypeScript's NodeNext convention)
  "deno.json": `${JSON.stringify({ unstable: ["sloppy-imports"] }, null, 2)}\n`
})

/** This package's root (this file is in `src/internal/cli/` or `dist/internal/cli/`, three levels below it). */
const packageRoot = () => fileURLToPath(new URL("../../..", import.meta.url))

const run = promisify(execFile)

/**
 * The `hotaru-rt` dependency of a new project in `root`: `from` as described above, or this
 * package packed into `root/vendor/`. In a checkout `npm pack` builds `dist/` first (prepack);
 * an installed copy is packed as it is.
 */
const hotaruDependency = (root: string, from: string | undefined) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const vendor = path.join(root, "vendor")
    if (from !== undefined && !from.endsWith(".tgz")) return from
    yield* fs.makeDirectory(vendor, { recursive: true })
    if (from !== undefined) {
      const target = path.join(vendor, path.basename(from))
      yield* fs.copyFile(path.resolve(from), target)
      return `file:vendor/${path.basename(from)}`
    }
    const self = packageRoot()
    const checkout = yield* fs.exists(path.join(self, "tsconfig.build.json"))
    const packed = yield* Effect.tryPromise({
      try: () =>
        run(
          "npm",
          ["pack", "--silent", "--pack-destination", vendor, ...(checkout ? [] : ["--ignore-scripts"])],
          {
            cwd: self,
            maxBuffer: 16 * 1024 * 1024,
            timeout: 300_000
          }
        ),
      catch: (e) =>
        new ScaffoldError({
          detail: `npm pack of ${self} failed: ${(e as { readonly stderr?: string }).stderr || (e as Error).message}`
        })
    })
    const tarball = (yield* fs.readDirectory(vendor)).find((f) => f.endsWith(".tgz"))
    if (tarball === undefined) {
      return yield* new ScaffoldError({
        detail: `npm pack wrote no tarball into ${vendor}: ${packed.stdout}`
      })
    }
    return `file:vendor/${tarball}`
  })

/** Write the project into `dir` (which must be empty or absent); returns the files written. */
export const scaffold = (
  dir: string,
  options: { readonly from?: string | undefined } = {}
): Effect.Effect<ReadonlyArray<string>, ScaffoldError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const root = path.resolve(dir)
    const existing = yield* fs.readDirectory(root).pipe(Effect.orElseSucceed(() => []))
    if (existing.length > 0) {
      return yield* new ScaffoldError({
        detail: `${root} is not empty: hotaru init writes only into a new directory`
      })
    }
    const own = JSON.parse(yield* fs.readFileString(path.join(packageRoot(), "package.json"))) as {
      readonly peerDependencies?: Record<string, string>
    }
    const versions: Versions = {
      hotaru: yield* hotaruDependency(root, options.from),
      peers: own.peerDependencies ?? {}
    }
    const written: Array<string> = versions.hotaru.startsWith("file:vendor/")
      ? [path.relative(process.cwd(), path.join(root, versions.hotaru.slice("file:".length)))]
      : []
    for (const [file, text] of Object.entries(files(path.basename(root), versions))) {
      const target = path.join(root, file)
      yield* fs.makeDirectory(path.dirname(target), { recursive: true })
      yield* fs.writeFileString(target, text)
      written.push(path.relative(process.cwd(), target))
    }
    return written
  }).pipe(Effect.mapError((e) => (e instanceof ScaffoldError ? e : new ScaffoldError({ detail: e.message }))))
