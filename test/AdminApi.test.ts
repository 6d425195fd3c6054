/**
 * The admin API as an HttpApi: the derived client against a real master (real HTTP on
 * 127.0.0.1, no nodes), and the CLI's client against a fake server that answers a document not
 * in the API's Schema.
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Logger, LogLevel, Option } from "effect"
import * as AdminApi from "../src/AdminApi.js"
import * as Cli from "../src/Cli.js"
import * as HotaruConfig from "../src/HotaruConfig.js"
import * as Master from "../src/Master.js"
import * as Transport from "../src/Transport.js"
import { freePort } from "./support/ports.js"

/** A config with a master block and no servers in a fresh directory (webport given or free). */
const setup = (webport?: number) =>
  Effect.promise(async () => {
    const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "hotaru-adminapi-"))
    const config = {
      master: { rootport: await freePort(), webport: webport ?? (await freePort()) },
      servers: {}
    }
    const file = NodePath.join(dir, "config.json")
    Fs.writeFileSync(file, JSON.stringify(config))
    const loaded = Either.getOrThrow(HotaruConfig.fromObject(config, { dir, file }))
    return { dir, file, loaded }
  })

const Env = Layer.mergeAll(NodeContext.layer, Transport.layerTcp(), Logger.minimumLogLevel(LogLevel.None))

const startMaster = (loaded: HotaruConfig.Loaded, token: string) =>
  Master.make({ config: loaded, mode: "in-process", token }).pipe(Effect.provide(Env))

const baseOf = (master: Master.Master["Type"]) => {
  const a = Option.getOrThrow(master.webAddress)
  return `http://${a.host}:${a.port}`
}

/** A fake "master" on 127.0.0.1:0 answering every request with `status` and `body`; the requests it saw. */
const fakeServer = (status: number, body: string) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ port: number; seen: Array<Http.IncomingHttpHeaders & { url?: string }> }>((resolve) => {
          const seen: Array<Http.IncomingHttpHeaders & { url?: string }> = []
          const server = Http.createServer((req, res) => {
            seen.push({ ...req.headers, ...(req.url === undefined ? {} : { url: req.url }) })
            res.writeHead(status, { "content-type": "application/json" })
            res.end(body)
          })
          server.listen(0, "127.0.0.1", () => {
            const port = (server.address() as Net.AddressInfo).port
            resolve(Object.assign({ port, seen }, { close: () => server.close() }))
          })
        })
    ),
    (s) => Effect.sync(() => (s as unknown as { close: () => void }).close())
  )

describe("AdminApi: the derived client against a real master", () => {
  it.scopedLive("status decodes into a StatusReport; errors arrive typed (catchTag works)", () =>
    Effect.gen(function* () {
      const { loaded } = yield* setup()
      const master = yield* startMaster(loaded, "s3cret")
      const client = yield* AdminApi.client({ baseUrl: baseOf(master), token: "s3cret" })
      const report = yield* client.admin.status()
      expect(report.master.pid).toBe(process.pid)
      expect(report.master.mode).toBe("in-process")
      expect(report.nodes).toEqual([])

      const unknown = yield* client.admin
        .restart({ path: { node: "nope" } })
        .pipe(Effect.catchTag("UnknownNode", (e) => Effect.succeed(`unknown ${e.node}: ${e.message}`)))
      expect(unknown).toMatch(/^unknown nope: .*nope/)

      const reloaded = yield* client.admin.reload()
      expect(reloaded).toEqual({ nodes: [] })

      // a broken config file: the 409 decodes into ReloadRefused with its issues
      Fs.writeFileSync(loaded.file, '{"master": {')
      const refused = yield* Effect.flip(client.admin.reload())
      expect(refused._tag).toBe("ReloadRefused")
      if (refused._tag === "ReloadRefused") {
        expect(refused.reason).toBe("InvalidConfig")
        expect(refused.issues.join(" ")).toContain("not valid JSON")
        expect(AdminApi.describeError(refused)).toMatch(/^HTTP 409: reload refused/)
      }

      const stranger = yield* AdminApi.client({ baseUrl: baseOf(master), token: "s3cre" })
      const denied = yield* Effect.flip(stranger.admin.status())
      expect(denied._tag).toBe("Unauthorized")
      const anonymous = yield* AdminApi.client({ baseUrl: baseOf(master) })
      const missing = yield* Effect.flip(anonymous.admin.restart({ path: { node: "x" } }))
      expect(missing._tag).toBe("Unauthorized")
      expect(AdminApi.describeError(missing)).toBe(
        "HTTP 401: missing bearer token (Authorization: Bearer <token>)"
      )
    }).pipe(Effect.provide(FetchHttpClient.layer))
  )

  it.scopedLive("a 401 asks for Bearer and tells nothing else; an unknown path is a JSON 404", () =>
    Effect.gen(function* () {
      const { loaded } = yield* setup()
      const master = yield* startMaster(loaded, "t")
      const base = baseOf(master)
      const denied = yield* Effect.promise(() => fetch(`${base}/status`))
      expect(denied.status).toBe(401)
      expect(denied.headers.get("www-authenticate")).toBe("Bearer")
      expect(yield* Effect.promise(() => denied.json())).toEqual({
        _tag: "Unauthorized",
        message: "missing bearer token (Authorization: Bearer <token>)"
      })
      // the token under another scheme is not a bearer token
      const basic = yield* Effect.promise(() =>
        fetch(`${base}/status`, { headers: { authorization: "Basic  t" } })
      )
      expect(basic.status).toBe(401)
      const ok = yield* Effect.promise(() =>
        fetch(`${base}/status`, { headers: { authorization: "Bearer t" } })
      )
      expect(ok.status).toBe(200)
      const lost = yield* Effect.promise(() =>
        fetch(`${base}/nowhere`, { headers: { authorization: "Bearer t" } })
      )
      expect(lost.status).toBe(404)
      expect(yield* Effect.promise(() => lost.json())).toMatchObject({ error: "NotFound" })
    })
  )
})

describe("the CLI goes through the derived client", () => {
  const invalid = JSON.stringify({
    master: { pid: 1, mode: "in-process", uptimeMs: 5, rootport: 1, webport: null },
    nodes: [{ name: "gate", state: "zombie", pid: "twelve" }]
  })

  it.scopedLive("hotaru status: an answer not in the StatusReport schema is a clear decode error", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer(200, invalid)
      const { file } = yield* setup(fake.port)
      const error = yield* Effect.flip(
        Cli.run(["node", "hotaru", "status", file, "--token", "tok"]).pipe(Effect.provide(NodeContext.layer))
      )
      expect(error).toBeInstanceOf(Cli.AdminRequestError)
      expect((error as Cli.AdminRequestError).reason).toBe("Failed")
      const message = (error as Cli.AdminRequestError).message
      expect(message).toContain(`http://127.0.0.1:${fake.port}/status`)
      expect(message).toContain("not the admin API's document")
      expect(message).toContain("nodes.0.state")
      expect(message).not.toContain("\n")
      // it asked with the token, as the API's bearer security says
      expect(fake.seen[0]?.authorization).toBe("Bearer tok")
      expect(fake.seen[0]?.url).toBe("/status")
    })
  )

  it.scopedLive("hotaru status with no master listening: NoMaster", () =>
    Effect.gen(function* () {
      const { file } = yield* setup(yield* Effect.promise(freePort))
      const error = yield* Effect.flip(
        Cli.run(["node", "hotaru", "status", file, "--token", "tok"]).pipe(Effect.provide(NodeContext.layer))
      )
      expect(error).toBeInstanceOf(Cli.AdminRequestError)
      expect((error as Cli.AdminRequestError).reason).toBe("NoMaster")
      expect((error as Cli.AdminRequestError).detail).toBe(
        "cannot reach the master (is it running?): ECONNREFUSED"
      )
      expect((error as Cli.AdminRequestError).message).toContain("No master is running at 127.0.0.1:")
    })
  )

  it.scopedLive("hotaru status, a real process: exits non-zero with the decode error, does not crash", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer(200, invalid)
      const { file } = yield* setup(fake.port)
      const bin = NodePath.resolve(__dirname, "../bin/hotaru.js")
      const result = yield* Effect.promise(
        () =>
          new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
            execFile(
              process.execPath,
              [bin, "status", file, "--token", "tok"],
              { timeout: 30_000 },
              (error, stdout, stderr) =>
                resolve({ code: error === null ? 0 : (error.code as number | null), stdout, stderr })
            )
          })
      )
      expect(result.code).toBe(1)
      expect(result.stdout).toBe("")
      expect(result.stderr).toContain("not the admin API's document")
      expect(result.stderr).toContain("nodes.0.state")
      expect(result.stderr).not.toContain("TypeError")
    })
  )
})
