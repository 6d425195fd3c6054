/**
 * An OTLP/HTTP collector for the trace tests: a server on a free loopback port keeping the JSON
 * bodies POSTed to `/v1/traces`, and the shape of those bodies.
 */
import * as Http from "node:http"

export interface OtlpSpan {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
}

export interface OtlpBody {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource: {
      readonly attributes: ReadonlyArray<{ readonly key: string; readonly value: unknown }>
    }
    readonly scopeSpans: ReadonlyArray<{ readonly spans: ReadonlyArray<OtlpSpan> }>
  }>
}

export interface Collector {
  /** Its base URL (`/v1/traces` is where spans go). */
  readonly url: string
  readonly bodies: Array<OtlpBody>
  readonly close: () => Promise<void>
}

/** Start a collector. */
export const collector = (): Promise<Collector> =>
  new Promise((resolve) => {
    const bodies: Array<OtlpBody> = []
    const server = Http.createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        if (request.url === "/v1/traces") bodies.push(JSON.parse(Buffer.concat(chunks).toString("utf8")))
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { readonly port: number }
      resolve({
        url: `http://127.0.0.1:${port}`,
        bodies,
        close: () => new Promise<void>((done) => server.close(() => done()))
      })
    })
  })
