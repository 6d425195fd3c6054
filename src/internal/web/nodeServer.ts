/**
 * The Node HTTP server under every hotaru web listener: header and request deadlines, a
 * connection cap, and a 503 for a request that arrives before the app is attached.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { Duration } from "effect"

/** The deadlines and the cap (defaults: 10 s headers, 30 s request, 256 connections). */
export interface NodeServerOptions {
  readonly headersTimeout?: Duration.DurationInput
  readonly requestTimeout?: Duration.DurationInput
  readonly maxConnections?: number
}

/** A Node HTTP server with the header/request deadlines and the connection cap of `options`. */
export const makeNodeServer = (options: NodeServerOptions) => {
  const requestTimeout = Math.max(1, Duration.toMillis(options.requestTimeout ?? Duration.seconds(30)))
  const headersTimeout = Math.min(
    requestTimeout,
    Math.max(1, Duration.toMillis(options.headersTimeout ?? Duration.seconds(10)))
  )
  const server = createServer({
    headersTimeout,
    requestTimeout,
    // how often Node checks the two deadlines (its default is 30 s)
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4)))
  })
  server.maxConnections = options.maxConnections ?? 256
  // until the app is attached, a request gets a 503; that listener goes when the app's comes
  server.on("request", answerWhileStarting)
  server.on("newListener", function attached(event: string | symbol) {
    if (event !== "request") return
    server.off("request", answerWhileStarting)
    server.off("newListener", attached)
  })
  return server
}

/**
 * The server listens when its layer is built, its app is attached once the app's layers are: a
 * request in between, with no listener, would never be answered. It gets a 503 instead.
 */
const answerWhileStarting = (_request: IncomingMessage, response: ServerResponse) => {
  const body = JSON.stringify({ error: "Unavailable", message: "starting: try again in a moment" })
  response.writeHead(503, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "retry-after": "1"
  })
  response.end(body)
}
