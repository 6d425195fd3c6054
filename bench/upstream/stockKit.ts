/**
 * Pieces the stock-only scripts of this folder share (no hotaru code): a free port, the cluster's
 * tables dropped after a run, hotaru's arena sharding settings, and a closed-loop load of
 * concurrent callers measured over a window.
 */
import * as net from "node:net"
import * as SocketRunner from "@effect/cluster/SocketRunner"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { numberArg } from "../args.js"

/** `--c` callers, `--duration` s measured after `--warmup` s: the load every measuring script takes. */
export const loadArgs = (args: Map<string, string>) => ({
  concurrency: numberArg(args, "c", 100),
  duration: numberArg(args, "duration", 5),
  warmup: numberArg(args, "warmup", 1)
})

/** The stock runner transport: `SocketRunner.layer` over `NodeClusterSocket`'s server and client. */
export const socketRunner = SocketRunner.layer.pipe(
  Layer.provide([NodeClusterSocket.layerSocketServer, NodeClusterSocket.layerClientProtocol])
)

/** The stock client-only transport: `SocketRunner.layerClientOnly` over `NodeClusterSocket`. */
export const socketClient = SocketRunner.layerClientOnly.pipe(
  Layer.provide(NodeClusterSocket.layerClientProtocol)
)

/** A port on 127.0.0.1 that was free a moment ago. */
export const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A table prefix of its own for this run (`tag` first). */
export const uniquePrefix = (tag: string) =>
  `${tag}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`

/** Drop the cluster's `tables` of `prefix` when the scope closes. */
export const dropTablesAfter = (
  sql: SqlClient.SqlClient,
  prefix: string,
  tables: ReadonlyArray<string> = ["replies", "messages", "runners", "locks", "shards"]
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.addFinalizer(() =>
    Effect.forEach(tables, (t) => sql.unsafe(`DROP TABLE IF EXISTS ${prefix}_${t}`), { discard: true }).pipe(
      Effect.ignore
    )
  )

/** The `sharding` block of hotaru's arena example, as ShardingConfig input. */
export const arenaSettings = {
  shardsPerGroup: 60,
  entityMessagePollInterval: "1 second",
  entityReplyPollInterval: "50 millis",
  shardLockRefreshInterval: "1 second",
  shardLockExpiration: "3 seconds",
  refreshAssignmentsInterval: "250 millis"
} as const

export interface Window {
  readonly msgs: number
  readonly seconds: number
  /** This process's CPU (user + system) over the window. */
  readonly cpuUs: number
}

/**
 * `concurrency` callers of `call(room${i})` in a loop; counted over `duration` s after `warmup`
 * s. A caller that failed fails the measurement (a silent one would only show as a low rate).
 * `around` runs right before and right after the window (a database's counters, say).
 */
export const measure = <B>(options: {
  readonly concurrency: number
  readonly warmup: number
  readonly duration: number
  readonly call: (room: string) => Effect.Effect<unknown, unknown>
  readonly around?: Effect.Effect<B, unknown>
}): Effect.Effect<Window & { readonly before?: B; readonly after?: B }, unknown> =>
  Effect.gen(function* () {
    let counting = false
    let msgs = 0
    let running = true
    const caller = (i: number) =>
      Effect.whileLoop({
        while: () => running,
        body: () => options.call(`room${i}`),
        step: () => {
          if (counting) msgs++
        }
      })
    const fibers = yield* Effect.forkAll(Array.from({ length: options.concurrency }, (_, i) => caller(i)))
    yield* Effect.sleep(`${options.warmup} seconds`)
    const before = options.around === undefined ? undefined : yield* options.around
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    counting = true
    yield* Effect.sleep(`${options.duration} seconds`)
    counting = false
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const after = options.around === undefined ? undefined : yield* options.around
    running = false
    yield* Fiber.join(fibers).pipe(Effect.timeout("30 seconds"))
    return {
      msgs,
      seconds,
      cpuUs: cpu.user + cpu.system,
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after })
    }
  })
