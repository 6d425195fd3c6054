/**
 * Code-first topology: apps given in code need no `app` file (TestCluster, Master in-process,
 * a user's entry file through `Main.runNode({ apps })`), and a node whose app names a parent or
 * child its config gives it no link to fails at start with `NodeError` `UnknownName`, naming the
 * valid names (in one process, and as a real `hotaru node` process).
 */
import { execFile, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { NodeContext } from "@effect/platform-node"
import { Rpc, RpcGroup } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Logger, LogLevel, Option, Schedule, Schema } from "effect"
import * as Client from "../src/Client.js"
import * as HotaruConfig from "../src/HotaruConfig.js"
import { UnknownName } from "../src/internal/rpc/topology.js"
import * as Master from "../src/Master.js"
import * as NetCommand from "../src/NetCommand.js"
import * as NetServer from "../src/NetServer.js"
import * as Node from "../src/Node.js"
import * as Remote from "../src/Remote.js"
import * as Root from "../src/Root.js"
import * as TestCluster from "../src/TestCluster.js"
import * as Transport from "../src/Transport.js"
import * as SupportPorts from "./support/ports.js"

const repo = Path.resolve(import.meta.dirname, "..")
const bin = Path.join(repo, "bin/hotaru.js")

class Lobby extends RpcGroup.make(Rpc.make("count", { payload: Schema.String, success: Schema.Number })) {}
class Room extends RpcGroup.make(Rpc.make("seats", { success: Schema.Number })) {}

const Count = NetCommand.text(1, { name: "count" })
/** The command of the entry file's `solo` node (test/fixtures/codeFirstMain.ts). */
const Echo = NetCommand.text(1, { name: "echo" })

const lobbyApp = Root.serve(Lobby, Lobby.toLayer({ count: (text) => Effect.succeed(text.length) }))
/** The net node's app: command 1 asks the lobby, through a client built once. */
const netApp = Layer.unwrapEffect(
  Effect.gen(function* () {
    const lobby = yield* Remote.client("lobby", Lobby)
    return NetServer.handle(Count, (text) =>
      lobby.count(text).pipe(
        Effect.map(String),
        Effect.catchTag("NodeUnavailable", () => Effect.succeed("lobby down"))
      )
    )
  })
)

const servers = {
  lobby: { rootport: 21000, app: "app.lobby" },
  room1: { remoteport: [{ rootport: 21000, rootname: "lobby" }], app: "app/room1.ts" },
  room2: { remoteport: [{ rootport: 21000, rootname: "lobby" }] },
  net: { netport: 21001, remoteport: [{ rootport: 21000, rootname: "lobby" }], app: "app.net" }
}
const roomApp = Remote.serve("lobby", Room, Room.toLayer({ seats: () => Effect.succeed(4) }))

const tempDir = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-topology-"))
const writeConfig = (dir: string, config: unknown) => {
  const file = Path.join(dir, "config.json")
  Fs.writeFileSync(file, JSON.stringify(config))
  return file
}

const startError = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (e) => e as E & { readonly _tag: string; readonly message: string })

describe("apps given in code need no app file", () => {
  it.scoped("TestCluster: a config file whose app files do not exist runs the apps given in code", () =>
    Effect.gen(function* () {
      const file = writeConfig(tempDir(), { servers })
      const cluster = yield* TestCluster.make({
        config: file,
        apps: { lobby: lobbyApp, room1: roomApp, room2: roomApp, net: netApp }
      })
      yield* cluster.awaitLinks
      const client = yield* cluster.client("net")
      expect(yield* client.call(Count, "four")).toBe("4")
    })
  )

  it.scoped("a server not given in code still needs its app file, named in the error", () =>
    Effect.gen(function* () {
      const file = writeConfig(tempDir(), { servers })
      const error = yield* startError(
        TestCluster.make({ config: file, apps: { lobby: lobbyApp, net: netApp } })
      )
      expect(error._tag).toBe("ConfigError")
      expect(error.message).toContain('servers.room1.app: "app/room1.ts" resolves to no file')
      expect(error.message).not.toContain("servers.lobby.app")
      expect(error.message).not.toContain("servers.net.app")
    })
  )

  it.scoped("an app given for a node the config does not have is a start error", () =>
    Effect.gen(function* () {
      const file = writeConfig(tempDir(), { servers })
      const error = yield* startError(
        TestCluster.make({
          config: file,
          apps: { lobby: lobbyApp, room1: roomApp, room2: roomApp, net: netApp, lobbby: lobbyApp }
        })
      )
      expect(error.message).toBe(
        'apps given for "lobbby", which the config has no server of (servers: lobby, room1, room2, net)'
      )
    })
  )

  it.effect("HotaruConfig.load checks only the modules of servers whose app is not given in code", () =>
    Effect.gen(function* () {
      const file = writeConfig(tempDir(), { servers })
      const loaded = yield* HotaruConfig.load(file, { apps: ["lobby", "room1", "net"] })
      expect(loaded.appsInCode).toEqual(["lobby", "room1", "net"])
      const error = yield* Effect.flip(HotaruConfig.load(file, { apps: ["lobby", "net"] }))
      expect(error.issues).toEqual([
        'servers.room1.app: "app/room1.ts" resolves to no file (tried app/room1.ts)'
      ])
    }).pipe(Effect.provide(NodeContext.layer))
  )
})

const freePort = () => Effect.promise(SupportPorts.freePort)

const MasterEnv = Layer.mergeAll(
  NodeContext.layer,
  Transport.layerTcp(),
  Logger.minimumLogLevel(LogLevel.None)
)

describe("Master.make with apps given in code", () => {
  it.scopedLive(
    "in-process: the nodes run the apps given in code; a reload re-reads the file without their modules",
    () =>
      Effect.gen(function* () {
        const [rootport, netport, masterport] = [yield* freePort(), yield* freePort(), yield* freePort()]
        const file = writeConfig(tempDir(), {
          master: { rootport: masterport },
          servers: {
            lobby: { rootport, app: "app.lobby" },
            net: { netport, remoteport: [{ rootport, rootname: "lobby" }], app: "app.net" }
          }
        })
        const apps = { lobby: lobbyApp, net: netApp }
        const loaded = yield* HotaruConfig.load(file, { apps: Object.keys(apps) })
        const master = yield* Master.make({ config: loaded, mode: "in-process", token: "t", apps })
        // the master returns once every node runs; the net node's link to the lobby may lag
        const answer = yield* Effect.gen(function* () {
          const client = yield* Client.connect({ host: "127.0.0.1", port: netport })
          const reply = yield* client.call(Count, "hello")
          return reply === "lobby down" ? yield* Effect.fail(reply) : reply
        }).pipe(Effect.scoped, Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 }))
        expect(answer).toBe("5")
        // the config is read again (and accepted) although app.lobby / app.net name no file
        const reloaded = yield* master.reload
        expect([...reloaded].sort((a, b) => a.node.localeCompare(b.node))).toEqual(
          ["lobby", "net"].map((node) => ({
            node,
            result:
              "failed: its app is given in code and it has no reload module: restart the node to change it"
          }))
        )
      }).pipe(Effect.provide(MasterEnv)),
    30_000
  )

  it.scoped("process mode with apps given in code, or an app for no server, is a clear start error", () =>
    Effect.gen(function* () {
      const file = writeConfig(tempDir(), {
        master: { rootport: 21010 },
        servers: { lobby: { rootport: 21011 } }
      })
      const loaded = yield* HotaruConfig.load(file)
      const inProcess = yield* Effect.flip(Master.make({ config: loaded, apps: { lobby: lobbyApp } }))
      expect(inProcess.reason).toBe("AppsInProcessMode")
      expect(inProcess.message).toContain("Main.runNode({ name, config, apps })")
      const unknown = yield* Effect.flip(
        Master.make({ config: loaded, mode: "in-process", apps: { lobbby: lobbyApp } })
      )
      expect(unknown.reason).toBe("UnknownApp")
      expect(unknown.message).toContain('apps given for "lobbby"')
      expect(unknown.message).toContain("(servers: lobby)")
    }).pipe(Effect.provide(MasterEnv))
  )
})

describe("a wrong peer name is a start error naming the valid names", () => {
  const config = { servers }
  const apps = { lobby: lobbyApp, room1: roomApp, room2: roomApp, net: netApp }

  it.scoped("Remote.serve with a misspelled parent", () =>
    Effect.gen(function* () {
      const error = yield* startError(
        TestCluster.make({
          config,
          apps: {
            ...apps,
            room1: Remote.serve("lobbby", Room, Room.toLayer({ seats: () => Effect.succeed(1) }))
          }
        })
      )
      expect(error._tag).toBe("NodeError")
      expect((error as Node.NodeError).reason).toBe("UnknownName")
      expect(error.message).toBe(
        'node room1: its app names no parent named "lobbby" (parents of "room1": "lobby")'
      )
    })
  )

  it.scoped("a parent client built once with a misspelled name", () =>
    Effect.gen(function* () {
      const typo = Layer.effectDiscard(Remote.client("lobbby", Lobby))
      const error = yield* startError(TestCluster.make({ config, apps: { ...apps, net: typo } }))
      expect((error as Node.NodeError).reason).toBe("UnknownName")
      expect(error.message).toBe(
        'node net: its app names no parent named "lobbby" (parents of "net": "lobby")'
      )
    })
  )

  it.scoped("a child client built once with a misspelled name", () =>
    Effect.gen(function* () {
      const typo = Layer.effectDiscard(Root.client("rooom1", Room))
      const error = yield* startError(
        TestCluster.make({ config, apps: { ...apps, lobby: Layer.merge(lobbyApp, typo) } })
      )
      expect((error as Node.NodeError).reason).toBe("UnknownName")
      expect(error.message).toBe(
        'node lobby: its app names no child named "rooom1" (children of "lobby": "room1", "room2", "net")'
      )
    })
  )

  it.scoped("a node with no parents at all says so", () =>
    Effect.gen(function* () {
      const typo = Layer.effectDiscard(Root.client("lobby", Room))
      const error = yield* startError(
        TestCluster.make({ config: { servers: { lobby: { rootport: 1 } } }, apps: { lobby: typo } })
      )
      expect(error.message).toBe(
        'node lobby: its app names no child named "lobby" ("lobby" has no children (no server lists it in its remoteport))'
      )
    })
  )

  it.scoped("at run time a misspelled child dies with UnknownName instead of NotConnected forever", () =>
    Effect.gen(function* () {
      const cluster = yield* TestCluster.make({ config, apps })
      const exit = yield* cluster.node("lobby").use(Effect.exit(Root.client("rooom1", Room)))
      expect(Exit.isFailure(exit)).toBe(true)
      const defect = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined
      expect(defect).toBeInstanceOf(UnknownName)
      expect((defect as UnknownName).message).toBe(
        'no child named "rooom1" (children of "lobby": "room1", "room2", "net")'
      )
      // the right names work
      yield* cluster.awaitLinks
      const room1 = yield* cluster.node("lobby").use(Root.client("room1", Room))
      expect(yield* room1.seats()).toBe(4)
    })
  )
})

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Run `node ARGS` in the repository (tsconfig `paths` map `hotaru-rt` to src/) to its end. */
const run = (args: ReadonlyArray<string>, timeout = 40_000) =>
  Effect.async<Ran>((resume) => {
    const child = execFile(
      process.execPath,
      args,
      { cwd: repo, timeout, env: { ...process.env, HOTARU_LOG: "info" } },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error === null ? 0 : (child.exitCode ?? -1), stdout, stderr }))
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("a wrong peer name in a real node process", () => {
  const processConfig = (soloPort = 21021) =>
    writeConfig(tempDir(), {
      servers: {
        lobby: { rootport: 21020 },
        net: {
          remoteport: [{ rootport: 21020, rootname: "lobby" }],
          app: Path.join(repo, "test/fixtures/topologyTypo.ts")
        },
        typo: { remoteport: [{ rootport: 21020, rootname: "lobby" }] },
        solo: { netport: soloPort, app: "app.solo" }
      }
    })

  it.live(
    "hotaru node: exits non-zero at start with the valid parent names",
    () =>
      Effect.gen(function* () {
        const file = processConfig()
        // app.solo names no file: `hotaru node` checks every module of the config
        Fs.mkdirSync(Path.join(Path.dirname(file), "app"))
        Fs.writeFileSync(Path.join(Path.dirname(file), "app/solo.ts"), "export default undefined\n")
        const ran = yield* run([bin, "node", "net", file])
        expect(ran.code, ran.stderr).toBe(1)
        expect(ran.stderr).toContain(
          'hotaru: node net: its app names no parent named "lobbby" (parents of "net": "lobby")'
        )
        expect(`${ran.stdout}${ran.stderr}`).not.toMatch(/^\s+at /m)
      }),
    60_000
  )

  it.scopedLive(
    "an entry file with Main.runNode({ apps }): no app file needed; a typo fails at start",
    () =>
      Effect.gen(function* () {
        const soloPort = yield* freePort()
        const file = processConfig(soloPort)
        const entry = ["--import", "tsx", Path.join(repo, "test/fixtures/codeFirstMain.ts")]
        const typo = yield* run([...entry, "typo", file])
        expect(typo.code, typo.stderr).not.toBe(0)
        expect(`${typo.stdout}${typo.stderr}`).toContain(
          'its app names no parent named "lobbby" (parents of "typo": "lobby")'
        )
        // solo's config names app.solo, which does not exist: the app given in code runs instead
        const child = spawn(process.execPath, [...entry, "solo", file], {
          cwd: repo,
          stdio: "ignore",
          env: { ...process.env, HOTARU_LOG: "warning" }
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
        const answer = yield* Effect.gen(function* () {
          const client = yield* Client.connect({ host: "127.0.0.1", port: soloPort })
          return yield* client.call(Echo, "hi")
        }).pipe(Effect.scoped, Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 150 }))
        expect(answer).toBe("solo:hi")
      }),
    60_000
  )
})
