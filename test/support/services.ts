/**
 * External services the tests use (all on 127.0.0.1). A test needing one says so with
 * `needs(name)` in its `describe` (or `requireService(name)` in the test): when the service does
 * not answer, the tests FAIL with a message naming the service and its address. They never pass
 * or skip quietly on a machine without it.
 */
import * as net from "node:net"
import { beforeEach } from "@effect/vitest"
import { Effect } from "effect"

export const services = {
  mariadb: { host: "127.0.0.1", port: 3306 },
  postgres: { host: "127.0.0.1", port: 5432 },
  redis: { host: "127.0.0.1", port: 6379 },
  memcached: { host: "127.0.0.1", port: 11211 }
} as const

export type ServiceName = keyof typeof services

const reachable = (host: string, port: number, timeoutMillis = 1_000): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (ok: boolean) => {
      socket.removeAllListeners()
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMillis, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/** Resolves when every named service answers; rejects naming the first one that does not. */
export const requireService = async (...names: ReadonlyArray<ServiceName>): Promise<void> => {
  for (const name of names) {
    const { host, port } = services[name]
    if (!(await reachable(host, port))) {
      throw new Error(`${name} is not reachable at ${host}:${port}: this test needs ${name} running there`)
    }
  }
}

/** `requireService` inside an Effect test: the test dies with the message naming the service. */
export const requireServiceEffect = (...names: ReadonlyArray<ServiceName>): Effect.Effect<void> =>
  Effect.promise(() => requireService(...names))

/**
 * Call at the top of a `describe` whose tests need `names`: each test of the block then fails
 * (counted as failed, not skipped) with the message naming the missing service. The services are
 * probed once per block. No names, no hook (for tables of backends where some need nothing, like
 * the in-memory ones).
 */
export const needs = (...names: ReadonlyArray<ServiceName>): void => {
  if (names.length === 0) return
  let probe: Promise<void> | undefined
  beforeEach(() => {
    probe ??= requireService(...names)
    return probe
  }, 5_000)
}

/** A name unique to this test run, for tables and key prefixes: `prefix_<time>_<random>`. */
export const uniqueName = (prefix: string): string =>
  `${prefix}_${Date.now().toString(36)}_${Math.floor(Math.random() * 36 ** 4).toString(36)}`
