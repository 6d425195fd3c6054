/**
 * What the WebSocket bench's servers and its load client say to each other: firefly frames
 * (`src/internal/edge/frame.ts`, default header: head bytes 0, versions 0) inside binary
 * WebSocket messages, and the command ids of the bench's WebSocket app. Plain code with no
 * hotaru import, so the raw `ws` server and the load client load only `ws`.
 *
 * | id | command | request body        | reply                                          |
 * |----|---------|---------------------|------------------------------------------------|
 * | 1  | echo    | any bytes           | the same bytes                                 |
 * | 2  | fan-out | any bytes           | none: the body goes out as a push 3 to every joined connection |
 * | 3  | push    | (server to client)  |                                                |
 * | 5  | join    | empty               | empty, once this connection is in the fan-out audience |
 * | 6  | login   | the player id UTF-8 | the player id, once the connection is bound to it (a second login of the id closes the older connection) |
 * | 7  | memory  | empty               | the server's memory after two full collections, JSON `{rss,heapUsed,external,arrayBuffers}` |
 */

export const ECHO = 1
export const FANOUT = 2
export const PUSH = 3
export const JOIN = 5
export const LOGIN = 6
export const MEMORY = 7
/** The edge's system frames of session resume: the token after a bind, and `Resume` / its answer. */
export const SESSION = 0xfffffffe
export const RESUME = 0xfffffffd

/** Frame header bytes; the length field (bytes 9–12) counts the command id and the body. */
export const HEADER = 17
const PREFIX = 13
/** The largest frame body either side accepts (hotaru's default `frame.maxLength`). */
export const MAX_BODY = 1 << 20

/** One frame: 17 header bytes, then the body. */
export const encode = (command: number, body: Uint8Array): Buffer => {
  const frame = Buffer.allocUnsafe(HEADER + body.length)
  frame.fill(0, 0, 9)
  frame.writeUInt32BE(body.length + 4, 9)
  frame.writeUInt32BE(command >>> 0, 13)
  frame.set(body, HEADER)
  return frame
}

/**
 * Every whole frame of one WebSocket message, in order (a sender may put several frames in one
 * message; neither side of this bench splits a frame over two). False if the message is not
 * whole frames, or a length is out of bounds.
 */
export const eachFrame = (message: Buffer, f: (command: number, body: Buffer) => void): boolean => {
  let off = 0
  while (off < message.length) {
    if (message.length - off < HEADER) return false
    const length = message.readUInt32BE(off + 9)
    if (length < 4 || length > MAX_BODY + 4 || message.length - off < PREFIX + length) return false
    f(message.readUInt32BE(off + 13), message.subarray(off + HEADER, off + PREFIX + length))
    off += PREFIX + length
  }
  return true
}

/** The server-side answer to `memory`: collect twice (the process runs with `--expose-gc`), then measure. */
export const memoryReport = (): Buffer => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
  const m = process.memoryUsage()
  return Buffer.from(
    JSON.stringify({
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      gc: gc !== undefined
    })
  )
}
