/**
 * `hotaru init DIR`: a small working project (firefly's `createproject`): a config with a master
 * and one node, an app with an echo command (1), a client script and a test.
 */
import { FileSystem, Path } from "@effect/platform"
import { Data, Effect } from "effect"

export class ScaffoldError extends Data.TaggedError("ScaffoldError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

const files = (name: string): Record<string, string> => ({
  "package.json": `${JSON.stringify(
    {
      name,
      private: true,
      type: "module",
      scripts: {
        start: "hotaru start config.json",
        client: "node --import tsx client.ts",
        test: "vitest run"
      },
      dependencies: { hotaru: "^0.1.0", effect: "^3.22.4", "@effect/platform-node": "^0.108.2" },
      devDependencies: { "@effect/vitest": "^0.30.0", vitest: "^3.2.0", tsx: "^4.20.0", typescript: "^5.9.0" }
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
  "app/protocol.ts": `import { Command } from "hotaru-rt"

/** Command 1: the server answers the same text. Shared by the app, the client and the test. */
export const Echo = Command.text(1, { name: "echo" })
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
  ".gitignore": "node_modules/\n.hotaru-admin-token\n"
})

/** Write the project into `dir` (which must be empty or absent); returns the files written. */
export const scaffold = (
  dir: string
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
    const written: Array<string> = []
    for (const [file, text] of Object.entries(files(path.basename(root)))) {
      const target = path.join(root, file)
      yield* fs.makeDirectory(path.dirname(target), { recursive: true })
      yield* fs.writeFileString(target, text)
      written.push(path.relative(process.cwd(), target))
    }
    return written
  }).pipe(Effect.mapError((e) => (e instanceof ScaffoldError ? e : new ScaffoldError({ detail: e.message }))))
