import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Inspectable, Redacted } from "effect"
import * as HotaruConfig from "../src/HotaruConfig.js"
import { linkAuthOf } from "../src/internal/config/linkAuth.js"

const seed = {
  master: { rootport: 9999, webport: 9998 },
  servers: {
    gate: { name: "gate", rootport: 10000, app: "app.gateserver" },
    net: {
      name: "net",
      netport: 10001,
      remoteport: [{ rootport: 10000, rootname: "gate" }],
      app: "app.netserver"
    },
    game1: { name: "game1", remoteport: [{ rootport: 10000, rootname: "gate" }], app: "app.game1server" }
  }
}

const issues = (json: unknown) => {
  const r = HotaruConfig.decode("config.json", json)
  return Either.isLeft(r) ? r.left.issues : []
}

const tmpProject = (files: Record<string, string>) => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-config-"))
  for (const [name, text] of Object.entries(files)) {
    Fs.mkdirSync(Path.dirname(Path.join(dir, name)), { recursive: true })
    Fs.writeFileSync(Path.join(dir, name), text)
  }
  return dir
}

describe("Config", () => {
  it("reads the seed's config.json as-is", () => {
    const r = HotaruConfig.decode("config.json", seed)
    expect(Either.isRight(r)).toBe(true)
    expect(HotaruConfig.childrenOf(Either.getOrThrow(r), "gate")).toEqual(["net", "game1"])
  })

  it("reads firefly's db and memcached blocks as-is", () => {
    const r = HotaruConfig.decode("config.json", {
      ...seed,
      db: { host: "localhost", user: "root", passwd: "111", port: 3306, db: "test", charset: "utf8" },
      memcached: { urls: ["127.0.0.1:11211"], hostname: "test" }
    })
    expect(Either.isRight(r)).toBe(true)
  })

  it("names the file, the server and the field of a bad value", () => {
    const r = HotaruConfig.decode("config.json", {
      ...seed,
      servers: { ...seed.servers, net: { netport: "abc" } }
    })
    expect(Either.isLeft(r) && r.left.message).toBe(
      'config.json: servers.net.netport: expected a port number 1-65535, got "abc"'
    )
    expect(issues({ servers: { a: { rootport: 70000 } } })).toEqual([
      "servers.a.rootport: expected a port number 1-65535, got 70000"
    ])
    expect(issues({ servers: { a: { remoteport: [{ rootport: 1 }] } } })).toEqual([
      "servers.a.remoteport[0].rootname: is required but missing"
    ])
    expect(issues({ servers: { a: { db: "yes" } } })).toEqual([
      'servers.a.db: expected true or false, got "yes"'
    ])
    expect(issues([])).toEqual(['expected a JSON object with "servers", got []'])
  })

  it("reports every problem at once", () => {
    expect(issues({ servers: { a: { netport: 0, webport: "x" } } })).toHaveLength(2)
  })

  it("cross-checks parents, ports and cycles", () => {
    expect(
      issues({ servers: { net: { netport: 1, remoteport: [{ rootport: 10000, rootname: "gatee" }] } } })
    ).toEqual(['servers.net.remoteport[0].rootname: "gatee" names no server (servers: net)'])
    expect(issues({ servers: { a: { netport: 5000 }, b: { rootport: 5000 } } })).toEqual([
      "servers.b.rootport: port 5000 is already used by servers.a.netport"
    ])
    expect(issues({ master: { rootport: 9999 }, servers: { a: { webport: 9999 } } })).toEqual([
      "servers.a.webport: port 9999 is already used by master.rootport"
    ])
    // servers on different hosts (different roothosts) may use the same port numbers
    expect(
      issues({
        servers: {
          net0: { netport: 10021, roothost: "net-0.net" },
          net1: { netport: 10021, roothost: "net-1.net" }
        }
      })
    ).toEqual([])
    expect(
      issues({ servers: { a: { netport: 10021, roothost: "h1" }, b: { netport: 10021, roothost: "h1" } } })
    ).toEqual(["servers.b.netport: port 10021 is already used by servers.a.netport"])
    expect(issues({ servers: { a: { netport: 10021, roothost: "h1" }, b: { netport: 10021 } } })).toEqual([
      "servers.b.netport: port 10021 is already used by servers.a.netport"
    ])
    expect(
      issues({
        servers: {
          a: { rootport: 1, remoteport: [{ rootport: 2, rootname: "b" }] },
          b: { rootport: 2, remoteport: [{ rootport: 1, rootname: "a" }] }
        }
      })
    ).toEqual(["servers.a.remoteport: cycle of parents a -> b -> a"])
    expect(
      issues({ servers: { a: { rootport: 1 }, b: { remoteport: [{ rootport: 2, rootname: "a" }] } } })
    ).toEqual(["servers.b.remoteport[0].rootport: 2 is not a's rootport (1)"])
  })

  it("reads firefly's keys hotaru names or applies differently, with a warning each", () => {
    const json = {
      servers: { a: { name: "b", log: "app.log", cpu: 1, reload: "app.a", netpot: 1 } },
      logger: {}
    }
    expect(issues(json)).toEqual([])
    const config = Either.getOrThrow(HotaruConfig.decode("config.json", json))
    expect(HotaruConfig.warningsOf(config, json)).toEqual([
      "logger: unknown key, ignored",
      'servers.a.name: "b" differs from its key; the node is named "a" (by its key, as in firefly)',
      "servers.a.log: not written; hotaru logs to stdout (the master prefixes each node's lines), redirect it to keep a file",
      "servers.a.cpu: ignored; hotaru does not pin CPUs (start the master under taskset instead)",
      "servers.a.netpot: unknown key, ignored"
    ])
    expect(
      HotaruConfig.warningsOf(Either.getOrThrow(HotaruConfig.decode("config.json", seed)), seed)
    ).toEqual([])
  })

  it.effect("loads a file and resolves firefly's dotted app names", () =>
    Effect.gen(function* () {
      const dir = tmpProject({
        "config.json": JSON.stringify(seed),
        "app/gateserver.ts": "export {}",
        "app/netserver.js": "export {}",
        "app/game1server.ts": "export {}"
      })
      const loaded = yield* HotaruConfig.load(Path.join(dir, "config.json"))
      expect(loaded.dir).toBe(dir)
      expect(yield* HotaruConfig.resolveModule(loaded, "gate", "app")).toBe(
        Path.join(dir, "app/gateserver.ts")
      )
      expect(yield* HotaruConfig.resolveModule(loaded, "net", "app")).toBe(Path.join(dir, "app/netserver.js"))
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("a missing app module is a clear error", () =>
    Effect.gen(function* () {
      const dir = tmpProject({
        "config.json": JSON.stringify({ servers: { gate: { rootport: 1, app: "app.nope" } } })
      })
      const error = yield* Effect.flip(HotaruConfig.load(Path.join(dir, "config.json")))
      expect(error.issues).toEqual([
        'servers.gate.app: "app.nope" resolves to no file (tried app/nope.ts, app/nope.js, app/nope.mts, app/nope.mjs, app/nope/index.ts, app/nope/index.js)'
      ])
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("unreadable files and bad JSON are clear errors", () =>
    Effect.gen(function* () {
      const missing = yield* Effect.flip(HotaruConfig.load("/nonexistent/config.json"))
      expect(missing.reason).toBe("NotFound")
      expect(missing.message).toContain("/nonexistent/config.json")
      const dir = tmpProject({ "config.json": "{ nope" })
      const bad = yield* Effect.flip(HotaruConfig.load(Path.join(dir, "config.json")))
      expect(bad.reason).toBe("InvalidJson")
      expect(bad.message).toMatch(/config\.json: not valid JSON/)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("a hostile config path: a device, a FIFO or a huge file is refused unread", () =>
    Effect.gen(function* () {
      const device = yield* Effect.flip(HotaruConfig.load("/dev/zero"))
      expect(device.message).toContain("not a regular file")
      const dir = tmpProject({ "config.json": `{"servers":{},"pad":"${"x".repeat(1024 * 1024)}"}` })
      const huge = yield* Effect.flip(HotaruConfig.load(Path.join(dir, "config.json")))
      expect(huge.reason).toBe("Invalid")
      expect(huge.message).toMatch(/at most 1048576/)
      const fifo = Path.join(dir, "fifo.json")
      ChildProcess.execFileSync("mkfifo", [fifo])
      const pipe = yield* Effect.flip(HotaruConfig.load(fifo))
      expect(pipe.message).toContain("not a regular file")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it("the cluster secret travels redacted: printing what the links take shows no secret", () => {
    const loaded = Either.getOrThrow(
      HotaruConfig.fromObject(
        { secret: "a-long-enough-cluster-secret", servers: { a: { rootport: 1 } } },
        { dir: "." }
      )
    )
    const auth = linkAuthOf(loaded.config)
    expect(Redacted.value(auth.secret!)).toBe("a-long-enough-cluster-secret")
    expect(String(auth.secret)).not.toContain("cluster-secret")
    expect(JSON.stringify(auth)).not.toContain("cluster-secret")
    expect(Inspectable.format(auth)).not.toContain("cluster-secret")
  })
})
