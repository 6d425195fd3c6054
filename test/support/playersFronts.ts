/**
 * The fronts of the players e2e tests (`test/fixtures/playersApp.ts` under `hotaru start`): the
 * app's path, a typed client, the wait until each front logs a player in (it runs, its app is
 * loaded, and its login reaches the master), and the master with two fronts (`withFronts`).
 */
import * as Path from "node:path"
import { Effect, type Fiber, type Scope, Stream } from "effect"
import { expect } from "vitest"
import * as Client from "../../src/Client.js"
import { Login, Told } from "../fixtures/playersApp.js"
import { exited, repo, startHotaru } from "./cli.js"
import { status, writeConfig } from "./demo.js"
import { freePorts } from "./ports.js"
import { waitFor } from "./wait.js"

export const playersApp = Path.join(repo, "test/fixtures/playersApp.ts")

export const connect = (port: number) => Client.connect({ host: "127.0.0.1", port, timeout: "5 seconds" })

/** Waits (60 s each) until every front logs its uid in. */
export const frontsLogIn = async (
  logins: ReadonlyArray<readonly [port: number, uid: string]>
): Promise<void> => {
  for (const [port, uid] of logins) {
    await waitFor(
      `front on ${port} to log a player in`,
      () => Effect.runPromise(Effect.scoped(Effect.flatMap(connect(port), (c) => c.call(Login, uid)))),
      60_000
    )
  }
}

/** A player on a reconnecting client, with what it sees collected in the background. */
export interface ReconnectingPlayer {
  readonly client: Client.Reconnecting
  /** Its connection events' tags, up to and including the first `Resumed`. */
  readonly events: Fiber.RuntimeFiber<ReadonlyArray<string>>
  /** The text of its first `told` `Told` pushes. */
  readonly told: Fiber.RuntimeFiber<ReadonlyArray<string>>
}

/**
 * `uid` on `Client.reconnecting` over `connects` (logging in on each fresh connection, 100 ms
 * between attempts), connected, with its event tags and its first `told` `Told` texts forked.
 */
export const reconnectingPlayer = (
  connects: ReadonlyArray<Effect.Effect<Client.Client, Client.ClientError, Scope.Scope>>,
  uid: string,
  told: number
): Effect.Effect<ReconnectingPlayer, Client.ClientError, Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* Client.reconnecting(connects, {
      onConnect: (c) => Effect.asVoid(c.call(Login, uid)),
      pause: "100 millis"
    })
    const events = yield* client.events.pipe(
      Stream.map((e) => e._tag),
      Stream.takeUntil((tag) => tag === "Resumed"),
      Stream.runCollect,
      Effect.map((tags): ReadonlyArray<string> => [...tags]),
      Effect.fork
    )
    const texts = yield* client.pushesOf(Told).pipe(
      Stream.take(told),
      Stream.runCollect,
      Effect.map((pushes): ReadonlyArray<string> => [...pushes]),
      Effect.fork
    )
    yield* client.current
    return { client, events, told: texts }
  })

/** Two fronts under `hotaru start`, as `withFronts` gives them to its body. */
export interface Fronts {
  readonly front1: number
  readonly front2: number
  /** The master's admin web port. */
  readonly webport: number
  /** The pid of node `name`, as the master's `/status` reports it. */
  readonly pidOf: (name: string) => Promise<number | undefined>
  /** The master's own pid. */
  readonly masterPid: number
}

/** What `withFronts` adds to each front's `{ name, netport, app }`, and to the config's top level. */
export interface FrontsOptions {
  readonly front1?: Record<string, unknown>
  readonly front2?: Record<string, unknown>
  readonly supervisor?: Record<string, unknown>
  readonly heartbeat?: Record<string, unknown>
}

/**
 * A master and two fronts (`front1`, `front2`, the players app) under `hotaru start`, from a config
 * written on free ports: `body` runs against them, then the master is stopped and must exit 0. The
 * master is SIGKILLed whatever happens (its nodes follow it: the orphan guard).
 */
export const withFronts = async (
  prefix: string,
  options: FrontsOptions,
  body: (fronts: Fronts) => Promise<void>
): Promise<void> => {
  const [rootport, webport, front1, front2] = (await freePorts(4)) as [number, number, number, number]
  const { dir, file } = writeConfig(prefix, {
    master: { rootport, webport },
    servers: {
      front1: { name: "front1", netport: front1, app: playersApp, ...options.front1 },
      front2: { name: "front2", netport: front2, app: playersApp, ...options.front2 }
    },
    ...(options.supervisor === undefined ? {} : { supervisor: options.supervisor }),
    ...(options.heartbeat === undefined ? {} : { heartbeat: options.heartbeat })
  })
  const master = startHotaru("hotaru start", ["start", file])
  const pidOf = async (name: string) =>
    (await status(webport, dir)).nodes.find((n) => n.name === name)?.pid ?? undefined
  try {
    await body({ front1, front2, webport, pidOf, masterPid: master.pid! })
    master.kill("SIGTERM")
    expect(await exited(master)).toBe(0)
  } finally {
    master.kill("SIGKILL")
  }
}

/** `withFronts`, its body an Effect in a scope of its own. */
export const withFrontsScoped = (
  prefix: string,
  options: FrontsOptions,
  body: (fronts: Fronts) => Effect.Effect<void, unknown, Scope.Scope>
): Promise<void> => withFronts(prefix, options, (fronts) => Effect.runPromise(Effect.scoped(body(fronts))))
