/**
 * The master's admin web against a hostile caller: real HTTP on 127.0.0.1, a real master (no
 * nodes, so no processes) built from a config in a fresh directory.
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either, Layer, Logger, LogLevel, Option, Redacted, Schema } from "effect"
import * as HotaruConfig from "../../src/HotaruConfig.js"
import * as Master from "../../src/Master.js"
import * as Node from "../../src/Node.js"
import * as Transport from "../../src/Transport.js"
import * as Web from "../../src/Web.js"
import * as SupportPorts from "../support/ports.js"
import { freePort } from "../support/ports.js"

/** A config with a master block and no servers, in a fresh directory. */
const setup = (master: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  Effect.promise(async () => {
    const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "hotaru-admin-"))
    const config = {
      master: { rootport: await freePort(), webport: await freePort(), ...master },
      servers: {},
      ...extra
    }
    const file = NodePath.join(dir, "config.json")
    Fs.writeFileSync(file, JSON.stringify(config))
    const loaded = Either.getOrThrow(HotaruConfig.fromObject(config, { dir, file }))
    return { dir, file, loaded, tokenFile: NodePath.join(dir, ".hotaru-admin-token") }
  })

const Env = Layer.mergeAll(NodeContext.layer, Transport.layerTcp(), Logger.minimumLogLevel(LogLevel.None))

const start = (loaded: HotaruConfig.Loaded, options: Partial<Master.Options> = {}) =>
  Master.make({ config: loaded, mode: "in-process", ...options }).pipe(Effect.provide(Env))

const urlOf = (master: Master.Master["Type"]) =>
  Option.match(master.webAddress, {
    onNone: () => {
      throw new Error("no admin web")
    },
    onSome: (a) => `http://${a.host}:${a.port}`
  })

const send = (url: string, init: RequestInit = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) })
    return { status: response.status, text: await response.text() }
  })

const rawExchange = (port: number, text: string) => Effect.promise(() => SupportPorts.rawExchange(port, text))

const nonLoopbackAddress = (): string | undefined =>
  Object.values(Os.networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === "IPv4" && !i.internal)?.address

describe("admin web: the token", () => {
  it.scopedLive("every endpoint, /status included, answers 401 without the token or with a wrong one", () =>
    Effect.gen(function* () {
      const { loaded } = yield* setup()
      const master = yield* start(loaded, { token: "right-token" })
      const url = urlOf(master)
      const endpoints: ReadonlyArray<readonly [string, string]> = [
        ["GET", "/status"],
        ["POST", "/stop"],
        ["GET", "/stop"],
        ["POST", "/reload"],
        ["GET", "/reloadmodule"],
        ["POST", "/restart/gate"]
      ]
      for (const [method, path] of endpoints) {
        const none = yield* send(`${url}${path}`, { method })
        expect(none.status, `${method} ${path}`).toBe(401)
        expect(none.text).not.toContain("pid")
        const wrong = yield* send(`${url}${path}`, {
          method,
          headers: { authorization: "Bearer wrong-token" }
        })
        expect(wrong.status, `${method} ${path}`).toBe(401)
        const almost = yield* send(`${url}${path}`, {
          method,
          headers: { authorization: "Bearer right-toke" }
        })
        expect(almost.status).toBe(401)
      }
      const ok = yield* send(`${url}/status`, { headers: { authorization: "Bearer right-token" } })
      expect(ok.status).toBe(200)
      expect(JSON.parse(ok.text)).toMatchObject({ master: { pid: process.pid }, nodes: [] })
      // the master is still up and not stopping
      expect(
        (yield* send(`${url}/status`, { headers: { authorization: "Bearer right-token" } })).status
      ).toBe(200)
    })
  )

  it.scopedLive("restart of an unknown node: 404 with the token", () =>
    Effect.gen(function* () {
      const { loaded } = yield* setup()
      const master = yield* start(loaded, { token: "t0k" })
      const reply = yield* send(`${urlOf(master)}/restart/nope`, {
        method: "POST",
        headers: { authorization: "Bearer t0k" }
      })
      expect(reply.status).toBe(404)
    })
  )

  it.scopedLive("a generated token goes to a new token file with mode 0600, removed at stop", () =>
    Effect.gen(function* () {
      const { loaded, tokenFile } = yield* setup()
      const token = yield* Effect.scoped(
        Effect.gen(function* () {
          const master = yield* start(loaded)
          const stat = Fs.lstatSync(tokenFile)
          expect(stat.isFile()).toBe(true)
          expect(stat.mode & 0o777).toBe(0o600)
          expect(Fs.readFileSync(tokenFile, "utf8").trim()).toBe(Redacted.value(master.token))
          const ok = yield* send(`${urlOf(master)}/status`, {
            headers: { authorization: `Bearer ${Redacted.value(master.token)}` }
          })
          expect(ok.status).toBe(200)
          // the service holds it redacted: no log or inspection of the master prints it
          expect(String(master.token)).not.toContain(Redacted.value(master.token))
          expect(JSON.stringify(master.token)).not.toContain(Redacted.value(master.token))
          return Redacted.value(master.token)
        })
      )
      expect(token.length).toBeGreaterThan(16)
      expect(Fs.existsSync(tokenFile)).toBe(false)
    })
  )

  it.scopedLive("an existing token file with mode 0600 is used as it is", () =>
    Effect.gen(function* () {
      const { loaded, tokenFile } = yield* setup()
      Fs.writeFileSync(tokenFile, "kept-token\n", { mode: 0o600 })
      const master = yield* start(loaded)
      expect(Redacted.value(master.token)).toBe("kept-token")
    })
  )

  it.scopedLive("an existing token file readable by others (0644) is refused: chmod 600", () =>
    Effect.gen(function* () {
      const { loaded, tokenFile } = yield* setup()
      Fs.writeFileSync(tokenFile, "leaked-token\n")
      Fs.chmodSync(tokenFile, 0o644)
      const error = yield* Effect.flip(start(loaded))
      expect(error.reason).toBe("Token")
      expect(error.message).toContain(`chmod 600 ${tokenFile}`)
      expect(error.message).toContain("0644")
      // nothing listens: the master did not start
      const port = loaded.config.master!.webport!
      expect(yield* rawExchange(port, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n")).toBe("")
    })
  )

  it.scopedLive("a symlinked token file is refused (to a private file, and dangling)", () =>
    Effect.gen(function* () {
      const { dir, loaded, tokenFile } = yield* setup()
      const target = NodePath.join(dir, "elsewhere")
      Fs.writeFileSync(target, "target-token\n", { mode: 0o600 })
      Fs.symlinkSync(target, tokenFile)
      const error = yield* Effect.flip(start(loaded))
      expect(error.reason).toBe("Token")
      expect(error.message).toContain("symlink")
      expect(Fs.readFileSync(target, "utf8")).toBe("target-token\n")

      Fs.unlinkSync(tokenFile)
      const planted = NodePath.join(dir, "planted")
      Fs.symlinkSync(planted, tokenFile)
      const dangling = yield* Effect.flip(start(loaded))
      expect(dangling.reason).toBe("Token")
      expect(Fs.existsSync(planted)).toBe(false)
    })
  )
})

describe("the CLI and the token file", () => {
  it.live("hotaru status refuses a token file others can read, and a symlinked one", () =>
    Effect.gen(function* () {
      const { dir, file, tokenFile } = yield* setup()
      const cli = () =>
        Effect.promise(
          () =>
            new Promise<{ code: number | null; stderr: string }>((resolve) => {
              const bin = NodePath.resolve(__dirname, "../../bin/hotaru.js")
              execFile(process.execPath, [bin, "status", file], { timeout: 30_000 }, (error, _out, stderr) =>
                resolve({ code: error === null ? 0 : (error.code as number | null), stderr })
              )
            })
        )
      Fs.writeFileSync(tokenFile, "leaked\n", { mode: 0o644 })
      Fs.chmodSync(tokenFile, 0o644)
      const open = yield* cli()
      expect(open.code).not.toBe(0)
      expect(open.stderr).toContain(`chmod 600 ${tokenFile}`)
      Fs.unlinkSync(tokenFile)
      Fs.writeFileSync(NodePath.join(dir, "other"), "x\n", { mode: 0o600 })
      Fs.symlinkSync(NodePath.join(dir, "other"), tokenFile)
      const linked = yield* cli()
      expect(linked.code).not.toBe(0)
      expect(linked.stderr).toContain("symlink")
    })
  )
})

describe("admin web: limits", () => {
  it.scopedLive("a declared oversized body: 413, and the admin web still answers", () =>
    Effect.gen(function* () {
      const { loaded } = yield* setup()
      const master = yield* start(loaded, { token: "t" })
      const port = Option.getOrThrow(master.webAddress).port
      const answer = yield* rawExchange(
        port,
        "POST /stop HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Length: 1000000\r\n\r\n"
      )
      expect(answer).toMatch(/^HTTP\/1\.1 413 /)
      const ok = yield* send(`${urlOf(master)}/status`, { headers: { authorization: "Bearer t" } })
      expect(ok.status).toBe(200)
      expect(JSON.parse(ok.text).nodes).toEqual([])
    })
  )

  it.scopedLive("slow headers: closed after master.http.headersTimeout", () =>
    Effect.gen(function* () {
      const { loaded } = yield* setup({ http: { headersTimeout: 0.3, requestTimeout: 1 } })
      const master = yield* start(loaded, { token: "t" })
      const port = Option.getOrThrow(master.webAddress).port
      const started = Date.now()
      const answer = yield* rawExchange(port, "GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bear")
      const elapsed = Date.now() - started
      expect(elapsed).toBeGreaterThanOrEqual(250)
      expect(elapsed).toBeLessThan(3000)
      expect(answer === "" || answer.startsWith("HTTP/1.1 408")).toBe(true)
    })
  )

  it.scopedLive("over master.http.maxConnections: refused, then a normal request is served", () =>
    Effect.gen(function* () {
      const { loaded } = yield* setup({ http: { maxConnections: 3 } })
      const master = yield* start(loaded, { token: "t" })
      const port = Option.getOrThrow(master.webAddress).port
      const held = yield* Effect.promise(() =>
        Promise.all(
          [0, 1, 2].map(
            () =>
              new Promise<Net.Socket>((resolve, reject) => {
                const socket = Net.connect(port, "127.0.0.1", () => resolve(socket))
                socket.on("error", reject)
              })
          )
        )
      )
      yield* Effect.sleep("100 millis")
      expect(
        yield* rawExchange(port, "GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n")
      ).toBe("")
      for (const socket of held) socket.destroy()
      yield* Effect.sleep("100 millis")
      const ok = yield* send(`${urlOf(master)}/status`, { headers: { authorization: "Bearer t" } })
      expect(ok.status).toBe(200)
    })
  )
})

describe("admin web: bind", () => {
  it.scopedLive("listens on 127.0.0.1 by default: not reachable on the machine's other addresses", () =>
    Effect.gen(function* () {
      const { loaded } = yield* setup()
      const master = yield* start(loaded, { token: "t" })
      const address = Option.getOrThrow(master.webAddress)
      expect(address.host).toBe("127.0.0.1")
      const other = nonLoopbackAddress()
      if (other !== undefined) {
        const reached = yield* Effect.promise(() => SupportPorts.reachable(other, address.port))
        expect(reached).toBe(false)
      }
    })
  )

  it.scopedLive("the config's master bind, and the --bind override over it", () =>
    Effect.gen(function* () {
      const { loaded } = yield* setup({ bind: { web: "127.0.0.2" } })
      const fromConfig = yield* Effect.scoped(
        Effect.map(start(loaded, { token: "t" }), (m) => Option.getOrThrow(m.webAddress).host)
      )
      expect(fromConfig).toBe("127.0.0.2")
      const overridden = yield* Effect.scoped(
        Effect.map(
          start(loaded, { token: "t", bind: "127.0.0.3" }),
          (m) => Option.getOrThrow(m.webAddress).host
        )
      )
      expect(overridden).toBe("127.0.0.3")
    })
  )
})

describe("master: reload validates the config file first", () => {
  it.scopedLive("a broken or topology-changing config.json is refused with its errors (409)", () =>
    Effect.gen(function* () {
      const { file, loaded } = yield* setup()
      const master = yield* start(loaded, { token: "t" })
      const url = urlOf(master)
      const reload = () => send(`${url}/reload`, { method: "POST", headers: { authorization: "Bearer t" } })

      const good = yield* reload()
      expect(good.status).toBe(200)
      expect(JSON.parse(good.text)).toEqual({ nodes: [] })

      Fs.writeFileSync(file, '{"master": {"rootport": 1, ') // half-written
      const broken = yield* reload()
      expect(broken.status).toBe(409)
      expect(JSON.parse(broken.text).message).toContain("not valid JSON")

      Fs.writeFileSync(file, JSON.stringify({ ...loaded.config, servers: { x: { rootport: "no" } } }))
      const invalid = yield* reload()
      expect(invalid.status).toBe(409)
      expect(JSON.parse(invalid.text).message).toContain("servers.x.rootport")

      Fs.writeFileSync(
        file,
        JSON.stringify({ ...loaded.config, master: { ...loaded.config.master, rootport: 1 } })
      )
      const moved = yield* reload()
      expect(moved.status).toBe(409)
      expect(JSON.parse(moved.text).message).toContain("master: changed")

      const refused = yield* Effect.flip(master.reload)
      expect(refused._tag).toBe("ReloadRefused")
      expect(refused.reason).toBe("TopologyChanged")
    })
  )
})

describe("a node's webport", () => {
  const Echo = Web.post("/echo", { body: Schema.Struct({ text: Schema.String }) }, ({ body }) =>
    Effect.succeed(body)
  )
  /** Node `web` of a one-server config with a webport, built in this scope; its web address. */
  const webNode = (server: Record<string, unknown>, options: Node.Options = {}) =>
    Effect.gen(function* () {
      const config = { servers: { web: { webport: 8080, ...server } } }
      const loaded = Either.getOrThrow(HotaruConfig.fromObject(config, { dir: Os.tmpdir() }))
      const context = yield* Layer.build(
        Node.layer(loaded, "web", { app: Echo, webPort: () => 0, ...options }).pipe(Layer.provide(Env))
      )
      return Context.get(context, Web.WebAddress)
    })

  it.scopedLive("binds 127.0.0.1 by default, the server's bind.web, or the --bind override", () =>
    Effect.gen(function* () {
      expect((yield* webNode({})).host).toBe("127.0.0.1")
      expect((yield* webNode({ bind: { web: "127.0.0.2" } })).host).toBe("127.0.0.2")
      expect((yield* webNode({ bind: "127.0.0.4" })).host).toBe("127.0.0.4")
      expect((yield* webNode({ bind: { web: "127.0.0.2" } }, { bind: "127.0.0.3" })).host).toBe("127.0.0.3")
    })
  )

  it.scopedLive("its http block: maxBodyBytes gives a 413, maxConnections refuses the next connection", () =>
    Effect.gen(function* () {
      const address = yield* webNode({ http: { maxBodyBytes: 64, maxConnections: 2 } })
      const big = yield* send(`${address.url}/echo`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: "z".repeat(200) })
      })
      expect(big.status).toBe(413)
      const held = yield* Effect.promise(() =>
        Promise.all(
          [0, 1].map(
            () =>
              new Promise<Net.Socket>((resolve, reject) => {
                const socket = Net.connect(address.port, "127.0.0.1", () => resolve(socket))
                socket.on("error", reject)
              })
          )
        )
      )
      yield* Effect.sleep("100 millis")
      expect(yield* rawExchange(address.port, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")).toBe("")
      for (const socket of held) socket.destroy()
      yield* Effect.sleep("100 millis")
      const ok = yield* send(`${address.url}/echo`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: "z" })
      })
      expect(ok.status).toBe(200)
      expect(JSON.parse(ok.text)).toEqual({ text: "z" })
    })
  )
})
