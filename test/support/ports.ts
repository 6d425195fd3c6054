/**
 * Ports for tests that run real servers: free ones on 127.0.0.1, and whether one accepts.
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

/** `n` free ports, all different (each taken after the last was released). */
export const freePorts = async (n: number): Promise<Array<number>> => {
  const ports: Array<number> = []
  while (ports.length < n) {
    const port = await freePort()
    if (!ports.includes(port)) ports.push(port)
  }
  return ports
}

/** `true` when something accepts a TCP connection at `host:port`, else `undefined` (for `waitFor`). */
export const connectable = (port: number, host = "127.0.0.1"): Promise<true | undefined> =>
  new Promise((resolve) => {
    const socket = Net.connect(port, host)
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(undefined))
  })

/** Whether `host:port` accepts a TCP connection within 2 s (`false` on a refusal or a timeout). */
export const reachable = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.connect(port, host, () => {
      socket.destroy()
      resolve(true)
    })
    socket.on("error", () => resolve(false))
    socket.setTimeout(2000, () => {
      socket.destroy()
      resolve(false)
    })
  })

/** Writes `text` on a fresh connection; everything the server sends until it closes (5 s at most). */
export const rawExchange = (port: number, text: string): Promise<string> =>
  new Promise((resolve) => {
    let received = ""
    const socket = Net.connect(port, "127.0.0.1", () => socket.write(text))
    const timer = setTimeout(() => socket.destroy(), 5000)
    socket.on("data", (c) => {
      received += String(c)
    })
    socket.on("error", () => undefined)
    socket.on("close", () => {
      clearTimeout(timer)
      resolve(received)
    })
  })
