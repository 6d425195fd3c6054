/**
 * A TCP proxy for tests that cut a client's network: everything through it goes to `port`, and
 * `drop` destroys every connection through it at once (both sides), as a lost network would. A
 * scoped resource: the scope drops what is left and closes the listener.
 */
import * as Net from "node:net"
import { Effect } from "effect"

/** A TCP proxy to `port` whose `drop` cuts every connection through it, as a lost network would. */
export const proxy = (port: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly drop: () => number; readonly server: Net.Server }>(
      (resume) => {
        const sockets = new Set<Net.Socket>()
        const server = Net.createServer((inbound) => {
          const outbound = Net.connect(port, "127.0.0.1")
          for (const s of [inbound, outbound]) {
            sockets.add(s)
            s.on("error", () => {})
            s.on("close", () => {
              sockets.delete(s)
              inbound.destroy()
              outbound.destroy()
            })
          }
          inbound.pipe(outbound).pipe(inbound)
        })
        const drop = () => {
          const n = sockets.size
          for (const s of sockets) s.destroy()
          return n
        }
        server.listen(0, "127.0.0.1", () =>
          resume(Effect.succeed({ port: (server.address() as Net.AddressInfo).port, drop, server }))
        )
      }
    ),
    ({ drop, server }) =>
      Effect.sync(() => {
        drop()
        server.close()
      })
  )
