/**
 * A node's plan: what its config entry (and the start options) make of it, resolved once: the
 * capabilities it gets, their listen addresses and ports, its parents and children, and the
 * file's seconds turned into Durations. `Node.layer` builds its Layers from this, so no option
 * is translated twice.
 *
 * @since 0.1.0
 */
import { Duration } from "effect"
import type { Role } from "../../EntitySharding.js"
import type { MemOptions } from "../../Mem.js"
import type { MasterLink, Options } from "../../Node.js"
import { bindAddress } from "./bind.js"
import { childrenOf } from "./children.js"
import { linkAuthOf } from "./linkAuth.js"
import type { Loaded } from "./loaded.js"
import { roleOf } from "./runnerRole.js"
import type { ServerConfig } from "./serverSchema.js"

/**
 * The cache of `mem: true` nodes: `cache`, else firefly's `memcached` block, else in-process memory.
 *
 * @since 0.1.0
 * @category utils
 */
export const memOptions = (loaded: Loaded): MemOptions => {
  const { cache, memcached } = loaded.config
  if (cache?.driver === "redis") {
    return {
      driver: "redis",
      url: cache.url ?? "redis://127.0.0.1:6379",
      prefix: cache.prefix,
      durability: cache.durability
    }
  }
  if (cache?.driver === "memcached" || (cache === undefined && memcached !== undefined)) {
    return {
      driver: "memcached",
      urls: cache?.url?.split(",") ?? memcached?.urls ?? ["127.0.0.1:11211"],
      hostname: cache?.prefix ?? memcached?.hostname ?? "hotaru",
      durability: cache?.durability
    }
  }
  return { driver: "memory", prefix: cache?.prefix, durability: cache?.durability }
}

/** A parent link of the node: a `remoteport` entry resolved to an address (or the master). */
export interface PlannedParent {
  readonly name: string
  readonly host: string
  readonly port: number
}

/** What a node is made of (see the module doc). */
export interface NodePlan {
  readonly name: string
  readonly server: ServerConfig
  /** Address of the internal listeners over the config's `bind` (`bindHost`, else `--bind`). */
  readonly internalBind: string | undefined
  readonly heartbeat: Options["heartbeat"]
  readonly callTimeout: Duration.DurationInput | undefined
  /** The cluster secret and handshake deadline every link proves and waits for. */
  readonly linkAuth: ReturnType<typeof linkAuthOf>
  /** Parents (remoteport entries, then the master if linked). */
  readonly parents: ReadonlyArray<PlannedParent>
  /** The servers that list this one in their `remoteport`. */
  readonly children: ReadonlyArray<string>
  readonly root: { readonly host: string; readonly port: number } | undefined
  readonly web: { readonly host: string; readonly port: number } | undefined
  readonly net: { readonly host: string; readonly port: number } | undefined
  /** The WebSocket listener (`wsport`), bound like the netport, with its `ws` block. */
  readonly ws:
    | {
        readonly host: string
        readonly port: number
        readonly origins?: ReadonlyArray<string>
        readonly maxPings?: number
      }
    | undefined
  /** The node's cluster role (runnerport / entities). */
  readonly role: Role | undefined
  /** Whether the node gets a database (`db: true`, or a cluster role). */
  readonly db: boolean
  readonly mem: MemOptions | undefined
  /** The capabilities, e.g. `["rootport", "netport"]`, in `NodeInfo` order. */
  readonly capabilities: ReadonlyArray<string>
  /** No other server of the file has a client edge (netport or wsport): the only front. */
  readonly onlyFront: boolean
}

/** The file's `heartbeat` block as Durations (`undefined`: the links' defaults), for every node link and the master's. */
export const heartbeatOf = (loaded: Loaded): Options["heartbeat"] => {
  const configured = loaded.config.heartbeat
  return configured === undefined
    ? undefined
    : {
        ...(configured.interval === undefined ? {} : { interval: Duration.seconds(configured.interval) }),
        ...(configured.timeout === undefined ? {} : { timeout: Duration.seconds(configured.timeout) })
      }
}

/** The node's parents: each `remoteport` entry's address, then the master's link. */
const parentsOf = (
  loaded: Loaded,
  server: ServerConfig,
  parentHost: string | undefined,
  master: MasterLink | undefined
): ReadonlyArray<PlannedParent> => [
  ...(server.remoteport ?? []).map((link) => ({
    name: link.rootname,
    // the link's own roothost, else the parent's configured one (nodes on several hosts)
    host: link.roothost ?? parentHost ?? loaded.config.servers[link.rootname]?.roothost ?? "127.0.0.1",
    port: link.rootport
  })),
  ...(master === undefined ? [] : [{ name: "master", ...master }])
]

/** The plan of node `name`, whose entry `server` is (checked by the caller). */
export const planOf = (loaded: Loaded, name: string, server: ServerConfig, options: Options): NodePlan => {
  const internalBind = options.bindHost ?? options.bind
  const role = roleOf(server, internalBind)
  const db = server.db === true || role !== undefined
  const capabilities = [
    ...(server.rootport === undefined ? [] : ["rootport"]),
    ...((server.remoteport?.length ?? 0) > 0 ? ["remoteport"] : []),
    ...(server.netport === undefined ? [] : ["netport"]),
    ...(server.wsport === undefined ? [] : ["wsport"]),
    ...(server.webport === undefined ? [] : ["webport"]),
    ...(db ? ["db"] : []),
    ...(role === undefined ? [] : [role._tag === "Runner" ? "runnerport" : "entities"]),
    ...(server.mem === true ? ["mem"] : [])
  ]
  return {
    name,
    server,
    internalBind,
    heartbeat: options.heartbeat ?? heartbeatOf(loaded),
    callTimeout:
      options.callTimeout ??
      (server.callTimeout === undefined ? undefined : Duration.seconds(server.callTimeout)),
    // every link proves the cluster secret (config `secret` / env HOTARU_SECRET) first
    linkAuth: linkAuthOf(loaded.config),
    parents: parentsOf(loaded, server, options.parentHost, options.master),
    children: childrenOf(loaded.config, name),
    root:
      server.rootport === undefined
        ? undefined
        : { host: bindAddress(server.bind, "root", internalBind), port: server.rootport },
    web:
      server.webport === undefined
        ? undefined
        : {
            host: bindAddress(server.bind, "web", internalBind),
            port: options.webPort ? options.webPort(server.webport) : server.webport
          },
    net:
      server.netport === undefined
        ? undefined
        : {
            host: options.bindHost ?? bindAddress(server.bind, "net"),
            port: options.netPort ? options.netPort(server.netport) : server.netport
          },
    ws:
      server.wsport === undefined
        ? undefined
        : {
            host: options.bindHost ?? bindAddress(server.bind, "net"),
            port: options.netPort ? options.netPort(server.wsport) : server.wsport,
            ...(server.ws?.origins === undefined ? {} : { origins: server.ws.origins }),
            ...(server.ws?.maxPings === undefined ? {} : { maxPings: server.ws.maxPings })
          },
    role,
    db,
    mem: server.mem === true ? memOptions(loaded) : undefined,
    capabilities,
    onlyFront: Object.entries(loaded.config.servers).every(
      ([other, s]) => other === name || (s.netport === undefined && s.wsport === undefined)
    )
  }
}
