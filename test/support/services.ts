/**
 * External services the tests use (all on 127.0.0.1). A test needing one asks `service(name)`:
 * when the service does not answer, the test file FAILS under CI (`process.env.CI` set) and is
 * skipped with a clear message otherwise.
 */
import * as net from "node:net"

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

/** `true` when the service answers; `false` (with a message) when not, outside CI; throws in CI. */
export const service = async (name: ServiceName): Promise<boolean> => {
  const { host, port } = services[name]
  if (await reachable(host, port)) return true
  const message = `${name} is not reachable at ${host}:${port}`
  if (process.env.CI) throw new Error(`${message} (required when CI is set)`)
  console.warn(`SKIPPING the ${name} tests: ${message}`)
  return false
}

/** A name unique to this test run, for tables and key prefixes: `prefix_<time>_<random>`. */
export const uniqueName = (prefix: string): string =>
  `${prefix}_${Date.now().toString(36)}_${Math.floor(Math.random() * 36 ** 4).toString(36)}`
