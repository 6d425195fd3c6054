/**
 * Hostile suite, node links in real processes: the CLI, a master and its
 * nodes, and rogue peers against their rootports.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { NetHandle100, NetHandle300 } from "../../examples/demo/app/protocol.js"
import * as Client from "../../src/Client.js"
import * as Handshake from "../../src/internal/link/handshake.js"
import type * as Master from "../../src/Master.js"
import { freePort, waitFor } from "../support/wait.js"
import { RawPeer, rawJoin } from "./linkPeer.js"

const repo = Path.resolve(__dirname, "../..")
const bin = Path.join(repo, "bin/hotaru.js")
const demoApp = Path.join(repo, "examples/demo/app")
const run = promisify(execFile)
const SECRET = "a cluster secret of some length"

const writeConfig = (config: unknown) => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-links-"))
  const file = Path.join(dir, "config.json")
  Fs.writeFileSync(file, JSON.stringify(config))
  return file
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode)
    else child.once("exit", (code) => resolve(code))
  })

/** Run the CLI to its end; its exit code and everything it printed. */
const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  run(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }).then(
    (r) => ({ code: 0, output: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: e.code ?? -1,
      output: (e.stdout ?? "") + (e.stderr ?? "")
    })
  )

/** Start the CLI in the background, collecting its output. */
const background = (args: ReadonlyArray<string>, env: Record<string, string>) => {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, HOTARU_LOG: "warning", ...env }
  })
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  return { child, output: () => output }
}

const connectable = (port: number, host = "127.0.0.1") =>
  new Promise<true | undefined>((resolve) => {
    const socket = Net.connect(port, host)
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(undefined))
  })

const call300 = (netport: number) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(Client.connect({ host: "127.0.0.1", port: netport, timeout: "2 seconds" }), (c) =>
        Effect.all([c.call(NetHandle100, "msgdata"), c.call(NetHandle300, "msgdata")])
      )
    )
  )

describe("hostile: node links in real processes", () => {
  it("a rootport beyond loopback without a secret refuses to start, on a node and on the master", {
    timeout: 60_000
  }, async () => {
    const [masterPort, gatePort] = [await freePort(), await freePort()]
    const file = writeConfig({
      master: { rootport: masterPort, bind: "0.0.0.0" },
      servers: { gate: { name: "gate", rootport: gatePort, bind: "0.0.0.0" } }
    })
    const node = await cli(["node", "gate", file], { HOTARU_SECRET: "" })
    expect(node.code).not.toBe(0)
    expect(node.output).toContain("beyond loopback")
    expect(node.output).toContain('"secret"')
    expect(node.output).toContain("HOTARU_SECRET")
    const master = await cli(["start", file], { HOTARU_SECRET: "" })
    expect(master.code).not.toBe(0)
    expect(master.output).toContain(`rootport ${masterPort}`)
    expect(master.output).toContain("HOTARU_SECRET")
    // a secret too short is refused with the rule
    const short = await cli(["node", "gate", file], { HOTARU_SECRET: "short" })
    expect(short.code).not.toBe(0)
    expect(short.output).toContain("at least 16 characters")

    // with the secret in the environment the same node starts
    const started = background(["node", "gate", file], { HOTARU_SECRET: SECRET })
    try {
      await waitFor("gate's rootport", () => connectable(gatePort), 20_000)
      const { answer } = await rawJoin(gatePort, "intruder", "gate", undefined)
      expect(answer).toEqual([Handshake.F_REFUSED, "Unauthenticated", "gate"])
      expect(started.child.exitCode).toBeNull()
    } finally {
      started.child.kill("SIGKILL")
    }
  })

  it("with a secret, rogues cannot register at a node's or the master's rootport; zero restarts; clients still served", {
    timeout: 120_000
  }, async () => {
    const [rootport, webport, gateport, netport] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort()
    ]
    const file = writeConfig({
      master: { rootport, webport },
      servers: {
        gate: { name: "gate", rootport: gateport, app: Path.join(demoApp, "gateserver.ts") },
        net: {
          name: "net",
          netport,
          remoteport: [{ rootport: gateport, rootname: "gate" }],
          app: Path.join(demoApp, "netserver.ts")
        },
        game1: {
          name: "game1",
          remoteport: [{ rootport: gateport, rootname: "gate" }],
          app: Path.join(demoApp, "game1server.ts")
        }
      },
      supervisor: { graceSeconds: 2 }
    })
    const master = background(["start", file], { HOTARU_SECRET: SECRET })
    try {
      expect(await waitFor("the demo to answer", () => call300(netport), 60_000)).toEqual([
        "netHandle_100 completed",
        "game1Handle completed"
      ])
      const token = Fs.readFileSync(Path.join(Path.dirname(file), ".hotaru-admin-token"), "utf8").trim()
      const status = async (): Promise<Master.StatusReport> =>
        (await (
          await fetch(`http://127.0.0.1:${webport}/status`, { headers: { authorization: `Bearer ${token}` } })
        ).json()) as Master.StatusReport

      // rootports listen on loopback only: not reachable on this host's other addresses
      const external = Object.values(Os.networkInterfaces())
        .flat()
        .filter((a) => a !== undefined && a.family === "IPv4" && !a.internal)
        .map((a) => a!.address)
      for (const address of external) {
        expect(await connectable(gateport, address), `gate on ${address}`).toBeUndefined()
        expect(await connectable(rootport, address), `master on ${address}`).toBeUndefined()
        expect(await connectable(netport, address), `net on ${address}`).toBe(true)
      }

      // a rogue node process: game1's config, a wrong secret
      const rogue = background(["node", "game1", file], { HOTARU_SECRET: "the wrong secret, long enough" })
      try {
        await waitFor(
          "gate to turn the rogue node away",
          async () =>
            /rootport of "gate": turned away .*Unauthenticated as "game1"/.test(master.output())
              ? true
              : undefined,
          20_000
        )
        expect(rogue.child.exitCode).toBeNull()
      } finally {
        rogue.child.kill("SIGKILL")
      }

      // rogues: no secret, a wrong secret, under a live child's name and a free one, at both rootports
      for (const secret of [undefined, "the wrong secret, long enough"]) {
        for (const [port, parent, name] of [
          [gateport, "gate", "game1"],
          [gateport, "gate", "game2"],
          [rootport, "master", "net"],
          [rootport, "master", "gate"]
        ] as const) {
          const { answer, peer } = await rawJoin(port, name, parent, secret)
          expect(answer, `${name} at ${parent}`).toEqual([Handshake.F_REFUSED, "Unauthenticated", parent])
          await peer.closed()
        }
      }
      // frames before the handshake: a declared 16 MiB length, a 2 MiB body
      for (const port of [gateport, rootport]) {
        const declared = await RawPeer.connect(port)
        const header = Buffer.alloc(4)
        header.writeUInt32BE(16 * 1024 * 1024)
        declared.socket.write(header)
        const big = await RawPeer.connect(port)
        const body = Buffer.alloc(2 * 1024 * 1024, 0x80)
        const bigHeader = Buffer.alloc(4)
        bigHeader.writeUInt32BE(body.length)
        big.socket.write(Buffer.concat([bigHeader, body]))
        await Promise.all([declared.closed(2000), big.closed(2000)])
      }

      // every node alive, none restarted, the tree intact; clients still answered
      const report = await status()
      expect(report.nodes.map((n) => [n.name, n.state, n.restarts])).toEqual(
        expect.arrayContaining([
          ["gate", "running", 0],
          ["net", "running", 0],
          ["game1", "running", 0]
        ])
      )
      expect([...(report.nodes.find((n) => n.name === "gate")?.children ?? [])].sort()).toEqual([
        "game1",
        "net"
      ])
      expect(await call300(netport)).toEqual(["netHandle_100 completed", "game1Handle completed"])
      // refusals are logged (rate-limited), by the master and by gate
      await waitFor(
        "the refusals in the logs",
        async () =>
          /rootport of "master": turned away/.test(master.output()) &&
          /rootport of "gate": turned away/.test(master.output())
            ? true
            : undefined,
        5_000
      )
      expect(master.output().match(/turned away/g)!.length).toBeLessThanOrEqual(4)
    } finally {
      master.child.kill("SIGTERM")
      await Promise.race([exited(master.child), new Promise((r) => setTimeout(r, 15_000))])
      master.child.kill("SIGKILL")
    }
  })
})
