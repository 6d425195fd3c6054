/**
 * Small helpers shared by the tests that run real servers and processes: a free port on
 * 127.0.0.1, and polling until something is there.
 */
import * as Net from "node:net"

/** A port free on 127.0.0.1 right now (bound to port 0, read, released). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })

/**
 * Call `f` every `intervalMs` until it gives a value (not `undefined`, not a rejection), or fail
 * after `timeoutMs` naming `what` and the last error seen.
 */
export const waitFor = async <A>(
  what: string,
  f: () => Promise<A | undefined>,
  timeoutMs: number,
  intervalMs = 150
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await f()
      if (value !== undefined) return value
    } catch (e) {
      last = e
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`)
}
