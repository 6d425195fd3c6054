/**
 * The baseline: Node's `net` module with firefly framing and nothing else (the "physical limit"
 * of this runtime). Same behaviour as the peers harness's raw server (see BENCHMARKS.md):
 * ECHO (1) writes the same frame back, FANOUT (2) encodes one PUSH (3) frame and writes it to
 * every socket, anything else is ignored.
 *   node --import tsx bench/servers/raw.ts [--port 0] [--nodelay on|off]
 * Prints `READY port=N pid=P` once it listens.
 */
import * as Net from "node:net"
import { boolArg, numberArg, parseArgs } from "../args.js"

const HEADER = 17
const PREFIX = 13

const encode = (command: number, body: Buffer): Buffer => {
  const buf = Buffer.allocUnsafe(HEADER + body.length)
  buf.fill(0, 0, 9)
  buf.writeUInt32BE(body.length + 4, 9)
  buf.writeUInt32BE(command >>> 0, 13)
  body.copy(buf, HEADER)
  return buf
}

const args = parseArgs(process.argv.slice(2))
const noDelay = boolArg(args, "nodelay", false)
const sockets = new Set<Net.Socket>()

const server = Net.createServer((sock) => {
  sock.setNoDelay(noDelay)
  sockets.add(sock)
  let pending: Buffer | undefined
  sock.on("data", (chunk: Buffer) => {
    const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk])
    pending = undefined
    let off = 0
    while (buf.length - off >= HEADER) {
      const len = buf.readUInt32BE(off + 9)
      if (len < 4 || len > 1 << 20) {
        sock.destroy()
        return
      }
      const total = PREFIX + len
      if (buf.length - off < total) break
      const command = buf.readUInt32BE(off + 13)
      const body = buf.subarray(off + HEADER, off + total)
      if (command === 1) sock.write(encode(1, body))
      else if (command === 2) {
        const frame = encode(3, body)
        for (const s of sockets) s.write(frame)
      }
      off += total
    }
    if (off < buf.length) pending = buf.subarray(off)
  })
  sock.on("error", () => {})
  sock.on("close", () => sockets.delete(sock))
})
server.maxConnections = 100000
server.listen({ port: numberArg(args, "port", 0), host: "127.0.0.1", backlog: 4096 }, () => {
  const address = server.address() as Net.AddressInfo
  // under --expose-gc (W4): collect start-up garbage so the RSS measured "before" is settled
  ;(globalThis as { gc?: () => void }).gc?.()
  process.stdout.write(`READY port=${address.port} pid=${process.pid}\n`)
})
process.on("SIGTERM", () => process.exit(0))
process.on("SIGINT", () => process.exit(0))
