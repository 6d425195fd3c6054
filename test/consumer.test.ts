/**
 * hotaru-rt as a consumer gets it: the packed tarball installed (`npm install`, no symlink) into a
 * temp project outside the repository, compiled by the consumer's strict NodeNext `tsc`
 * (`skipLibCheck: false`, `exactOptionalPropertyTypes`, `noPropertyAccessFromIndexSignature`,
 * `erasableSyntaxOnly`, `verbatimModuleSyntax`)
 * and run with plain `node`: a netport node forwarding to a rootport node answers a client; a
 * node whose config wants a database driver the consumer did not install says which to install.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { cleanEnv, npmInstall, packed, repo, run } from "./support/pack.js"
import { freePort } from "./support/ports.js"

const devVersion = (name: string): string => {
  const pkg = JSON.parse(Fs.readFileSync(Path.join(repo, "package.json"), "utf8")) as {
    devDependencies: Record<string, string>
  }
  return pkg.devDependencies[name]!
}

describe("a consumer of the packed package", () => {
  it("installs it, compiles against its .d.ts under strict options and runs it with plain node", {
    timeout: 600_000
  }, async () => {
    const tarball = await packed()
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-consumer-"))
    try {
      Fs.cpSync(Path.join(repo, "test/fixtures/consumer"), dir, { recursive: true })
      Fs.writeFileSync(
        Path.join(dir, "package.json"),
        JSON.stringify({
          name: "consumer",
          private: true,
          type: "module",
          dependencies: {
            "hotaru-rt": `file:${tarball}`,
            effect: devVersion("effect"),
            "@effect/platform-node": devVersion("@effect/platform-node"),
            "@effect/rpc": devVersion("@effect/rpc")
          },
          // Effect's platform declarations themselves need lib DOM (`Transferable`) and @types/ws
          // under skipLibCheck: false; hotaru-rt's own need nothing more
          devDependencies: {
            typescript: devVersion("typescript"),
            "@types/node": devVersion("@types/node"),
            "@types/ws": "^8.5.0"
          }
        })
      )
      await npmInstall(dir)
      const installed = Path.join(dir, "node_modules/hotaru-rt")
      expect(Fs.lstatSync(installed).isSymbolicLink()).toBe(false)
      expect(Fs.existsSync(Path.join(installed, "dist/index.js"))).toBe(true)
      expect(Fs.existsSync(Path.join(installed, "dist/index.d.ts"))).toBe(true)
      expect(Fs.existsSync(Path.join(installed, "src"))).toBe(false)
      // the optional peers stay out unless the consumer asks for them
      for (const optional of ["tsx", "mysql2", "pg", "better-sqlite3", "ioredis", "memjs"])
        expect(Fs.existsSync(Path.join(dir, "node_modules", optional)), optional).toBe(false)

      const tsc = await run(
        process.execPath,
        [Path.join(dir, "node_modules/typescript/bin/tsc"), "-p", dir],
        {
          cwd: dir
        }
      ).catch((e: { stdout: string; stderr: string }) => e)
      expect(`${tsc.stdout}${tsc.stderr}`).toBe("")

      const [rootport, netport] = [await freePort(), await freePort()]
      const config = (gate: Record<string, unknown>) =>
        JSON.stringify({
          servers: {
            gate: { rootport, app: "dist/gate.js", ...gate },
            net: { netport, remoteport: [{ rootport, rootname: "gate" }], app: "dist/net.js" }
          }
        })
      Fs.writeFileSync(Path.join(dir, "config.json"), config({}))
      const main = await run(
        process.execPath,
        [Path.join(dir, "dist/main.js"), "config.json", String(netport)],
        {
          cwd: dir,
          timeout: 90_000,
          env: cleanEnv({ HOTARU_LOG: "warning" })
        }
      ).catch((e: { stdout: string; stderr: string }) => e)
      expect(main.stderr).toBe("")
      expect(main.stdout).toContain("reply: HELLO!")

      // the installed CLI runs the built output; a node whose config wants a driver the
      // consumer did not install fails to start with the package to install
      Fs.writeFileSync(Path.join(dir, "config-db.json"), config({ db: true }))
      const bin = Path.join(installed, "bin/hotaru.js")
      const failed = await run(process.execPath, [bin, "node", "gate", "config-db.json"], {
        cwd: dir,
        timeout: 60_000,
        env: cleanEnv()
      }).then(
        () => ({ code: 0, out: "" }),
        (e: { code: number; stdout: string; stderr: string }) => ({
          code: e.code,
          out: `${e.stdout}${e.stderr}`
        })
      )
      expect(failed.code).not.toBe(0)
      expect(failed.out).toContain('needs the package "@effect/sql-sqlite-node"')
      expect(failed.out).toContain("npm install @effect/sql-sqlite-node")
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
