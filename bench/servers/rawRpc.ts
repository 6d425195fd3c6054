/**
 * W5's floor: a raw `net` request/response server. Frames are `uint32 BE length (= 4 + body) |
 * uint32 BE request id | body`; every request is answered with the same frame. Replies to one
 * read are written as one batch (cork/uncork), as a careful hand-written server would.
 *   node --import tsx bench/servers/rawRpc.ts [--port 0]
 * Prints `READY port=N pid=P` once it listens.
 */
import * as Net from "node:net"
import { numberArg, parseArgs } from "../args.js"

const args = parseArgs(process.argv.slice(2))

const server = Net.createServer((sock) => {
  sock.setNoDelay(true)
  let pending: Buffer | undefined
  sock.on("data", (chunk: Buffer) => {
    const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk])
    pending = undefined
    let off = 0
    sock.cork()
    while (buf.length - off >= 4) {
      const total = 4 + buf.readUInt32BE(off)
      if (buf.length - off < total) break
      sock.write(buf.subarray(off, off + total))
      off += total
    }
    sock.uncork()
    if (off < buf.length) pending = Buffer.from(buf.subarray(off))
  })
  sock.on("error", () => {})
})
server.listen({ port: numberArg(args, "port", 0), host: "127.0.0.1" }, () => {
  const address = server.address() as Net.AddressInfo
  process.stdout.write(`READY port=${address.port} pid=${process.pid}\n`)
})
process.on("SIGTERM", () => process.exit(0))
process.on("SIGINT", () => process.exit(0))
