import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Schema } from "effect"
import * as HotaruConfig from "../src/HotaruConfig.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetServer from "../src/NetServer.js"
import * as Node from "../src/Node.js"
import * as Root from "../src/Root.js"
import * as TestCluster from "../src/TestCluster.js"
import * as Web from "../src/Web.js"

const repo = Path.resolve(__dirname, "..")
const Hello = NetCommand.text(1)

const loadedOf = (json: Record<string, unknown>) =>
  Either.getOrThrow(
    HotaruConfig.fromObject({ servers: { a: { db: true, mem: true } }, ...json }, { dir: "/project" })
  )

describe("Node data capabilities from the config", () => {
  it("db: an SQLite file under the project by default, firefly's db block means MySQL", () => {
    expect(Node.dbOptions(loadedOf({}))).toEqual({
      driver: "sqlite",
      filename: "/project/data/hotaru.sqlite"
    })
    expect(
      Node.dbOptions(
        loadedOf({
          db: { host: "127.0.0.1", user: "root", passwd: "", port: 3306, db: "test", charset: "utf8" }
        })
      )
    ).toMatchObject({ driver: "mysql", host: "127.0.0.1", user: "root", db: "test" })
    expect(
      Node.dbOptions(loadedOf({ db: { driver: "pg", host: "127.0.0.1", user: "postgres", db: "test" } }))
    ).toMatchObject({ driver: "pg" })
  })

  it("mem: cache block, else firefly's memcached block, else in-process memory", () => {
    expect(Node.memOptions(loadedOf({}))).toMatchObject({ driver: "memory" })
    expect(Node.memOptions(loadedOf({ memcached: { urls: ["127.0.0.1:11211"], hostname: "test" } }))).toEqual(
      {
        driver: "memcached",
        urls: ["127.0.0.1:11211"],
        hostname: "test"
      }
    )
    expect(
      Node.memOptions(loadedOf({ cache: { driver: "redis", url: "redis://127.0.0.1:6379", prefix: "g:" } }))
    ).toEqual({ driver: "redis", url: "redis://127.0.0.1:6379", prefix: "g:" })
  })
})

describe("Node", () => {
  it.scopedLive("a webport node serves the app's typed routes over real HTTP", () =>
    Effect.gen(function* () {
      const app = Layer.mergeAll(
        Web.get("/hello", { query: Schema.Struct({ name: Schema.String }) }, ({ query }) =>
          Effect.succeed({ hello: query.name })
        ),
        NetServer.handle(Hello, (t) => Effect.succeed(t))
      )
      const cluster = yield* TestCluster.make({
        config: { servers: { web: { webport: 8080, netport: 8081 } } },
        apps: { web: app }
      })
      const address = yield* cluster.node("web").use(Web.WebAddress)
      const response = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${address.port}/hello?name=hotaru`)
      )
      expect(yield* Effect.promise(() => response.json())).toEqual({ hello: "hotaru" })
      const bad = yield* Effect.promise(() => fetch(`http://127.0.0.1:${address.port}/hello`))
      expect(bad.status).toBe(400)
      const info = yield* cluster.node("web").use(Node.NodeInfo)
      expect(info.capabilities).toEqual(["netport", "webport"])
    })
  )

  it.scoped("an app that needs a capability its config does not give fails to start, clearly", () =>
    Effect.gen(function* () {
      const needsRoot = Layer.effectDiscard(Effect.asVoid(Root.Root))
      const error = yield* Effect.flip(
        TestCluster.make({ config: { servers: { lonely: { netport: 1 } } }, apps: { lonely: needsRoot } })
      )
      expect(error._tag).toBe("NodeError")
      expect(error.message).toBe(
        'node lonely: its app needs hotaru/Root, but the config gives "lonely" no rootport'
      )
    })
  )

  it.scoped("an unknown node name is a clear error", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        // @ts-expect-error "b" is no server of this config written in code
        TestCluster.make({ config: { servers: { a: { netport: 1 } } }, nodes: ["b"], apps: {} })
      )
      expect(error.message).toMatch(/no node "b"|no server "b"/)
    })
  )

  it.scopedLive("reload swaps the handlers without dropping the client's connection", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(repo, ".tmp-reload-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const appFile = Path.join(dir, "app.ts")
      const writeApp = (reply: string) =>
        Fs.writeFileSync(
          appFile,
          `import { Effect } from "effect"
import { NetCommand, NetServer } from "hotaru-rt"
export default NetServer.handle(NetCommand.text(1), () => Effect.succeed(${JSON.stringify(reply)}))
`
        )
      writeApp("v1")
      const cluster = yield* TestCluster.make({
        config: { servers: { game: { netport: 1, app: "./app.ts" } } },
        dir
      })
      const client = yield* cluster.client("game")
      expect(yield* client.call(Hello, "?")).toBe("v1")
      writeApp("v2")
      const host = yield* cluster.node("game").use(Node.AppHost)
      expect(yield* host.reload).toBe(appFile)
      expect(yield* client.call(Hello, "?")).toBe("v2")
      // a broken module is refused and the running handlers stay
      Fs.writeFileSync(appFile, "export default 42\n")
      const failed = yield* Effect.either(host.reload)
      expect(Either.isLeft(failed) && failed.left.reason).toBe("Reload")
      expect(yield* client.call(Hello, "?")).toBe("v2")
      expect(yield* host.reloads).toBe(1)
    })
  )
})
