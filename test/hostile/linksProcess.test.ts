/**
 * Hostile suite, node links in real processes: the CLI, a master and its
 * nodes, and rogue peers against their rootports.
 */
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Handshake from "../../src/internal/link/handshake.js"
import { background, cli, exited } from "../support/cli.js"
import { call300, demoConfig, status as demoStatus, writeConfig } from "../support/demo.js"
import { connectable, freePorts } from "../support/ports.js"
import { CLUSTER_SECRET as SECRET, WRONG_SECRET } from "../support/secret.js"
import { waitFor } from "../support/wait.js"
import { RawPeer, rawJoin } from "./linkPeer.js"

describe("hostile: node links in real processes", () => {
  it("a rootport beyond loopback without a secret refuses to start, on a node and on the master", {
    timeout: 60_000
  }, async () => {
    const [masterPort, gatePort] = (await freePorts(2)) as [number, number]
    const { file } = writeConfig("links", {
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
    const { file, rootport, webport, gateport, netport } = await demoConfig({ prefix: "links" })
    const master = background(["start", file], { HOTARU_SECRET: SECRET })
    try {
      expect(await waitFor("the demo to answer", () => call300(netport), 60_000)).toEqual([
        "netHandle_100 completed",
        "game1Handle completed"
      ])
      const status = () => demoStatus(webport, Path.dirname(file))

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
      const rogue = background(["node", "game1", file], { HOTARU_SECRET: WRONG_SECRET })
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
      for (const secret of [undefined, WRONG_SECRET]) {
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
