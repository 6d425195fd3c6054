/**
 * The deploy examples (docs/deploy/): their configs are valid hotaru configs, and every `hotaru`
 * command line in the unit files and manifests uses a real subcommand with real flags.
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { promisify, stripVTControlCharacters } from "node:util"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as HotaruConfig from "../src/HotaruConfig.js"

const repo = Path.resolve(__dirname, "..")
const deploy = Path.join(repo, "docs/deploy")
const bin = Path.join(repo, "bin/hotaru.js")
const run = promisify(execFile)

const files = (dir: string): ReadonlyArray<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(Path.join(dir, e.name)) : [Path.join(dir, e.name)]
  )

describe("docs/deploy examples", () => {
  it.effect("their configs load (the apps are the game's own files, given in code here)", () =>
    Effect.gen(function* () {
      const configs = files(deploy).filter((f) => f.endsWith("config.json"))
      expect(configs.length).toBe(2)
      for (const file of configs) {
        const servers = Object.keys(
          (JSON.parse(Fs.readFileSync(file, "utf8")) as { servers: object }).servers
        )
        const loaded = yield* HotaruConfig.load(file, { apps: servers })
        expect(loaded.config.master?.roothost, file).toBeDefined()
      }
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it("every hotaru command line uses real flags", { timeout: 120_000 }, async () => {
    const uses = new Map<string, Set<string>>()
    for (const file of [...files(deploy), Path.join(repo, "docs/deploy.md")]) {
      const text = Fs.readFileSync(file, "utf8")
      for (const match of text.matchAll(/\bhotaru (start|join|status|stop|restart|reload|node)\b([^\n]*)/g)) {
        const flags = [...match[2]!.matchAll(/(?:^|\s)(--[a-z][a-z-]*)/g)].map((m) => m[1]!)
        const set = uses.get(match[1]!) ?? new Set<string>()
        for (const flag of flags) set.add(flag)
        uses.set(match[1]!, set)
      }
    }
    expect([...uses.keys()]).toEqual(expect.arrayContaining(["start", "join", "status"]))
    const helps = await Promise.all(
      [...uses.keys()]
        .filter((command) => uses.get(command)!.size > 0)
        .map(async (command) => {
          const help = (await run(process.execPath, [bin, command, "--help"], { timeout: 90_000 })).stdout
          return [command, stripVTControlCharacters(help)] as const
        })
    )
    for (const [command, plain] of helps) {
      for (const flag of uses.get(command)!) expect(plain, `hotaru ${command} ${flag}`).toContain(`${flag} `)
    }
  })
})
