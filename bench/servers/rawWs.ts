/**
 * The WebSocket baseline: a `ws` server with firefly framing inside binary messages and nothing
 * else (the WebSocket bench's "physical limit"), set up as hotaru's `wsport` sets up `ws`: no
 * per-message deflate, no client tracking, backlog 4096, the same largest message. The commands
 * of `bench/ws/wire.ts`: echo writes the frame back, fan-out encodes one push frame and sends it
 * to every joined connection (the `ws` broadcast loop), login keeps one connection per player id
 * (a second login closes the older one), memory answers the process's memory after GC.
 *   node [--expose-gc] --import tsx bench/servers/rawWs.ts [--port 0]
 * Prints `READY port=N pid=P` once it listens.
 */
import { type WebSocket, WebSocketServer } from "ws"
import { numberArg, parseArgs } from "../args.js"
import {
  ECHO,
  eachFrame,
  encode,
  FANOUT,
  HEADER,
  JOIN,
  LOGIN,
  MAX_BODY,
  MEMORY,
  memoryReport,
  PUSH
} from "../ws/wire.js"

const args = parseArgs(process.argv.slice(2))
const joined = new Set<WebSocket>()
const players = new Map<string, WebSocket>()
const EMPTY = Buffer.alloc(0)

const wss = new WebSocketServer({
  host: "127.0.0.1",
  port: numberArg(args, "port", 0),
  backlog: 4096,
  perMessageDeflate: false,
  clientTracking: false,
  maxPayload: MAX_BODY + HEADER
})

wss.on("connection", (ws) => {
  let uid: string | undefined
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return ws.close(1003, "binary frames only")
    const whole = eachFrame(data, (command, body) => {
      if (command === ECHO) ws.send(encode(ECHO, body))
      else if (command === FANOUT) {
        const frame = encode(PUSH, body)
        for (const member of joined) member.send(frame)
      } else if (command === JOIN) {
        joined.add(ws)
        ws.send(encode(JOIN, EMPTY))
      } else if (command === LOGIN) {
        uid = body.toString("utf8")
        const older = players.get(uid)
        if (older !== undefined && older !== ws) older.close(1000, "logged in elsewhere")
        players.set(uid, ws)
        ws.send(encode(LOGIN, body))
      } else if (command === MEMORY) ws.send(encode(MEMORY, memoryReport()))
    })
    if (!whole) ws.terminate()
  })
  ws.on("error", () => ws.terminate())
  ws.on("close", () => {
    joined.delete(ws)
    if (uid !== undefined && players.get(uid) === ws) players.delete(uid)
  })
})
wss.on("listening", () => {
  const address = wss.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  // under --expose-gc: collect start-up garbage so the memory measured "before" is settled
  ;(globalThis as { gc?: () => void }).gc?.()
  process.stdout.write(`READY port=${port} pid=${process.pid}\n`)
})
process.on("SIGTERM", () => process.exit(0))
process.on("SIGINT", () => process.exit(0))
