/**
 * The seed's demo topology (examples/demo/app: gate, net, game1) on free ports, written to a
 * config file in a fresh directory, and what tests ask of it: the demo's two commands through a
 * client, the admin token and the master's `/status`.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect } from "effect"
import { NetHandle100, NetHandle300 } from "../../examples/demo/app/protocol.js"
import type * as AdminApi from "../../src/AdminApi.js"
import * as Client from "../../src/Client.js"
import { repo } from "./cli.js"
import { freePorts } from "./ports.js"

export const demoApp = Path.join(repo, "examples/demo/app")

export interface DemoPorts {
  readonly rootport: number
  readonly webport: number
  readonly gateport: number
  readonly netport: number
}

export interface DemoOptions {
  /** The temp directory's prefix, after `hotaru-` (default `demo`). */
  readonly prefix?: string
  /** More keys of the `master` block. */
  readonly master?: Record<string, unknown>
  /** More keys of the gate's block. */
  readonly gate?: Record<string, unknown>
  /** Give each server its `name` and the master a `supervisor: { graceSeconds: 2 }` (default true). */
  readonly named?: boolean
  /** More top-level keys (`secret`, `adminToken`, …), after the others. */
  readonly extra?: Record<string, unknown>
  /** The config file's mode (e.g. 0o600 when it holds a secret). */
  readonly mode?: number
}

/** The demo's config object on `ports`. */
export const demoTopology = (ports: DemoPorts, options: DemoOptions = {}): Record<string, unknown> => {
  const named = options.named ?? true
  const name = (n: string) => (named ? { name: n } : {})
  const toGate = [{ rootport: ports.gateport, rootname: "gate" }]
  return {
    master: { ...options.master, rootport: ports.rootport, webport: ports.webport },
    servers: {
      gate: {
        ...name("gate"),
        rootport: ports.gateport,
        ...options.gate,
        app: Path.join(demoApp, "gateserver.ts")
      },
      net: {
        ...name("net"),
        netport: ports.netport,
        remoteport: toGate,
        app: Path.join(demoApp, "netserver.ts")
      },
      game1: { ...name("game1"), remoteport: toGate, app: Path.join(demoApp, "game1server.ts") }
    },
    ...(named ? { supervisor: { graceSeconds: 2 } } : {}),
    ...options.extra
  }
}

/** Write `config` as `config.json` in a fresh `hotaru-<prefix>-` temp directory. */
export const writeConfig = (prefix: string, config: unknown, mode?: number) => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), `hotaru-${prefix}-`))
  const file = Path.join(dir, "config.json")
  Fs.writeFileSync(file, JSON.stringify(config), mode === undefined ? undefined : { mode })
  return { dir, file }
}

/** The demo on four free ports, in a fresh directory: its file, directory and ports. */
export const demoConfig = async (options: DemoOptions = {}) => {
  const [rootport, webport, gateport, netport] = (await freePorts(4)) as [number, number, number, number]
  const ports = { rootport, webport, gateport, netport }
  return { ...writeConfig(options.prefix ?? "demo", demoTopology(ports, options), options.mode), ...ports }
}

/** Commands 100 (net) and 300 (forwarded to game1) through a fresh client: their two replies. */
export const call300 = (netport: number) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(Client.connect({ host: "127.0.0.1", port: netport, timeout: "2 seconds" }), (c) =>
        Effect.all([c.call(NetHandle100, "msgdata"), c.call(NetHandle300, "msgdata")])
      )
    )
  )

/** The admin token: the master's token file beside the config, else the config's `adminToken`. */
export const adminToken = (dir: string): string => {
  try {
    return Fs.readFileSync(Path.join(dir, ".hotaru-admin-token"), "utf8").trim()
  } catch {
    return (JSON.parse(Fs.readFileSync(Path.join(dir, "config.json"), "utf8")) as { adminToken: string })
      .adminToken
  }
}

/** The master's `/status` at `webport`, with the token of the config in `dir`. */
export const status = async (webport: number, dir: string): Promise<AdminApi.StatusReport> => {
  const response = await fetch(`http://127.0.0.1:${webport}/status`, {
    headers: { authorization: `Bearer ${adminToken(dir)}` },
    // a request the master accepted while it was still starting must not hang its poller
    signal: AbortSignal.timeout(5_000)
  })
  if (!response.ok)
    throw new Error(`/status: HTTP ${response.status} ${(await response.text()).slice(0, 500)}`)
  return (await response.json()) as AdminApi.StatusReport
}
