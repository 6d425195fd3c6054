import * as Http from "node:http"
import * as Net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel, Ref, Schema } from "effect"
import * as Web from "../src/Web.js"
import { rawExchange } from "./support/ports.js"

class Counter extends Context.Tag("test/Counter")<Counter, Ref.Ref<number>>() {}

interface Reply {
  readonly status: number
  readonly body: unknown
  readonly headers: Headers
}

/** A real HTTP request to the server under test. */
const call = (path: string, init: RequestInit = {}) =>
  Effect.gen(function* () {
    const { url } = yield* Web.WebAddress
    return yield* Effect.promise(async (): Promise<Reply> => {
      const res = await fetch(`${url}${path}`, { ...init, signal: AbortSignal.timeout(5000) })
      const text = await res.text()
      return { status: res.status, body: text === "" ? undefined : JSON.parse(text), headers: res.headers }
    })
  })

const postJson = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  call(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })

describe("Web", () => {
  it.scopedLive("serves a GET route on the bound address (port 0)", () =>
    Effect.gen(function* () {
      const address = yield* Web.WebAddress
      expect(address.host).toBe("127.0.0.1")
      expect(address.port).toBeGreaterThan(0)
      expect(address.url).toBe(`http://127.0.0.1:${address.port}`)
      const reply = yield* call("/status")
      expect(reply.status).toBe(200)
      expect(reply.headers.get("content-type")).toContain("application/json")
      expect(reply.body).toEqual({ ok: true })
    }).pipe(Effect.provide(TestLive))
  )

  it.scopedLive("checks the JSON body with its Schema: 400 with a clear error", () =>
    Effect.gen(function* () {
      const good = yield* postJson("/echo", { text: "ab", times: 2 })
      expect(good.status).toBe(200)
      expect(good.body).toEqual({ echoed: "abab" })

      const bad = yield* postJson("/echo", { text: 5 })
      expect(bad.status).toBe(400)
      expect(bad.body).toMatchObject({
        error: "BadRequest",
        issues: [{ path: ["text"], message: "Expected string, actual 5" }]
      })
      expect((bad.body as { message: string }).message).toMatch(/^invalid body: /)

      const notJson = yield* postJson("/echo", "{oops")
      expect(notJson.status).toBe(400)
      expect(notJson.body).toMatchObject({ error: "BadRequest" })
      expect((notJson.body as { message: string }).message).toContain("not JSON")

      const empty = yield* call("/echo", { method: "POST" })
      expect(empty.status).toBe(400)
    }).pipe(Effect.provide(TestLive))
  )

  it.scopedLive("checks path parameters and the query string", () =>
    Effect.gen(function* () {
      const ok = yield* call("/users/42?verbose=yes")
      expect(ok.status).toBe(200)
      expect(ok.body).toEqual({ id: 42, verbose: "yes" })
      const defaults = yield* call("/users/7")
      expect(defaults.body).toEqual({ id: 7, verbose: "no" })
      const badParam = yield* call("/users/abc")
      expect(badParam.status).toBe(400)
      expect((badParam.body as { message: string }).message).toMatch(/^invalid params: /)
      const badQuery = yield* call("/users/1?verbose=maybe")
      expect(badQuery.status).toBe(400)
      expect((badQuery.body as { message: string }).message).toMatch(/^invalid query: /)
    }).pipe(Effect.provide(TestLive))
  )

  it.scopedLive("unknown path or method: 404 JSON", () =>
    Effect.gen(function* () {
      const missing = yield* call("/nope?x=1")
      expect(missing.status).toBe(404)
      expect(missing.body).toEqual({ error: "NotFound", message: "no route for GET /nope" })
      const wrongMethod = yield* call("/status", { method: "DELETE" })
      expect(wrongMethod.status).toBe(404)
    }).pipe(Effect.provide(TestLive))
  )

  it.scopedLive("requireToken: 401 without the bearer token, and the handler does not run", () =>
    Effect.gen(function* () {
      const none = yield* postJson("/incr", {})
      expect(none.status).toBe(401)
      expect(none.headers.get("www-authenticate")).toBe("Bearer")
      expect(none.body).toMatchObject({ error: "Unauthorized" })
      const wrong = yield* postJson("/incr", {}, { authorization: "Bearer nope" })
      expect(wrong.status).toBe(401)
      expect(yield* Effect.flatMap(Counter, Ref.get)).toBe(0)

      const right = yield* postJson("/incr", { by: 5 }, { authorization: "Bearer s3cret" })
      expect(right.status).toBe(200)
      expect(right.body).toBe(5)
      expect(yield* Effect.flatMap(Counter, Ref.get)).toBe(5)

      // the guard runs before the body is checked
      const badAndUnauthorized = yield* postJson("/incr", { by: "x" })
      expect(badAndUnauthorized.status).toBe(401)
      // unguarded routes stay open
      expect((yield* call("/status")).status).toBe(200)
    }).pipe(Effect.provide(TestLive))
  )

  it.scopedLive("handler results and failures map to statuses", () =>
    Effect.gen(function* () {
      const conflict = yield* call("/conflict")
      expect(conflict.status).toBe(409)
      expect(conflict.body).toEqual({ error: "Conflict", message: "already there" })
      const boom = yield* call("/boom")
      expect(boom.status).toBe(500)
      expect(boom.body).toEqual({ error: "Internal", message: "internal error" })
      const died = yield* call("/die")
      expect(died.status).toBe(500)
      const gone = yield* call("/thing", { method: "DELETE" })
      expect(gone.status).toBe(204)
      expect(gone.body).toBeUndefined()
    }).pipe(Effect.provide(TestLive))
  )

  it.scopedLive("a body larger than maxBodySize: 413", () =>
    Effect.gen(function* () {
      const big = yield* postJson("/echo", { text: "x".repeat(500) })
      expect(big.status).toBe(413)
      expect(big.body).toMatchObject({ error: "PayloadTooLarge" })
      const small = yield* postJson("/echo", { text: "x" })
      expect(small.status).toBe(200)
    }).pipe(Effect.provide(SmallBodyLive))
  )

  it.scopedLive("a chunked body larger than maxBodySize: a clean 413, and the server keeps serving", () =>
    Effect.gen(function* () {
      const { port } = yield* Web.WebAddress
      const reply = yield* Effect.promise(
        () =>
          new Promise<{ status: number; body: string }>((resolve, reject) => {
            const req = Http.request(
              {
                host: "127.0.0.1",
                port,
                method: "POST",
                path: "/echo",
                headers: { "content-type": "application/json", "transfer-encoding": "chunked" }
              },
              (res) => {
                let body = ""
                res.on("data", (c) => {
                  body += String(c)
                })
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
              }
            )
            req.on("error", reject)
            req.write('{"text":"')
            for (let i = 0; i < 50; i++) req.write("x".repeat(100))
            req.end('"}')
          })
      )
      expect(reply.status).toBe(413)
      expect(JSON.parse(reply.body)).toMatchObject({ error: "PayloadTooLarge" })
      const small = yield* postJson("/echo", { text: "x" })
      expect(small.status).toBe(200)
    }).pipe(Effect.provide(SmallBodyLive))
  )

  it.scopedLive("an endless chunked body: 413 and the connection closed, server alive", () =>
    Effect.gen(function* () {
      const { port } = yield* Web.WebAddress
      // 1 MiB of chunks against a 100-byte limit: answered and closed long before the end
      const outcome = yield* Effect.promise(
        () =>
          new Promise<string>((resolve) => {
            const req = Http.request(
              {
                host: "127.0.0.1",
                port,
                method: "POST",
                path: "/echo",
                headers: { "transfer-encoding": "chunked" }
              },
              (res) => {
                res.resume()
                resolve(`status ${res.statusCode}`)
              }
            )
            req.on("error", () => resolve("closed"))
            const chunk = "y".repeat(16 * 1024)
            let sent = 0
            const pump = () => {
              while (sent < 64) {
                sent++
                if (!req.write(chunk)) return void req.once("drain", pump)
              }
              req.end()
            }
            pump()
          })
      )
      expect(["status 413", "closed"]).toContain(outcome)
      expect((yield* postJson("/echo", { text: "x" })).status).toBe(200)
    }).pipe(Effect.provide(SmallBodyLive))
  )

  it.scopedLive("a declared content-length over the limit: 413 before the body is sent, on any route", () =>
    Effect.gen(function* () {
      const { port } = yield* Web.WebAddress
      const head = (path: string) =>
        Effect.promise(() =>
          rawExchange(
            port,
            `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n`
          )
        )
      for (const path of ["/echo", "/status", "/nowhere"]) {
        const answer = yield* head(path)
        expect(answer).toMatch(/^HTTP\/1\.1 413 /)
        expect(answer.toLowerCase()).toContain("connection: close")
      }
    }).pipe(Effect.provide(SmallBodyLive))
  )

  it.scopedLive("slow headers: the connection is closed after headersTimeout", () =>
    Effect.gen(function* () {
      const { port } = yield* Web.WebAddress
      const started = Date.now()
      const answer = yield* Effect.promise(() => rawExchange(port, "GET /status HTTP/1.1\r\nHost: x\r\n"))
      const elapsed = Date.now() - started
      expect(elapsed).toBeGreaterThanOrEqual(250)
      expect(elapsed).toBeLessThan(3000)
      expect(answer === "" || answer.startsWith("HTTP/1.1 408")).toBe(true)
      expect((yield* call("/status")).status).toBe(200)
    }).pipe(Effect.provide(LimitedLive))
  )

  it.scopedLive("over maxConnections: new connections are closed; served again once below", () =>
    Effect.gen(function* () {
      const { port } = yield* Web.WebAddress
      const open = () =>
        Effect.promise(
          () =>
            new Promise<Net.Socket>((resolve, reject) => {
              const socket = Net.connect(port, "127.0.0.1", () => resolve(socket))
              socket.on("error", reject)
            })
        )
      const held = [yield* open(), yield* open()]
      yield* Effect.sleep("100 millis")
      // the third: accepted by the kernel, closed by the server without an answer
      const answer = yield* Effect.promise(() => rawExchange(port, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n"))
      expect(answer).toBe("")
      for (const socket of held) socket.destroy()
      yield* Effect.sleep("100 millis")
      const reply = yield* Effect.promise(() =>
        rawExchange(port, "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
      )
      expect(reply).toMatch(/^HTTP\/1\.1 200 /)
    }).pipe(Effect.provide(LimitedLive))
  )

  it.scopedLive("a port already in use: WebListenError", () =>
    Effect.gen(function* () {
      const { port } = yield* Web.WebAddress
      const error = yield* Effect.flip(Layer.build(Web.layer({ port })))
      expect(error._tag).toBe("WebListenError")
      expect(error.message).toContain(`cannot listen on 127.0.0.1:${port}`)
    }).pipe(Effect.provide(TestLive))
  )

  it.scopedLive(
    "listening before its app is attached: a 503 with retry-after, not a request left hanging",
    () =>
      Effect.gen(function* () {
        // the server alone, as it is between its listen and the app's serve
        const context = yield* Layer.build(Web.layerServer({ port: 0 }))
        const { url } = Context.get(context, Web.WebAddress)
        const response = yield* Effect.promise(() =>
          fetch(`${url}/status`, { signal: AbortSignal.timeout(5_000) })
        )
        expect(response.status).toBe(503)
        expect(response.headers.get("retry-after")).toBe("1")
        expect(yield* Effect.promise(() => response.json())).toEqual({
          error: "Unavailable",
          message: "starting: try again in a moment"
        })
      })
  )
})

// --- routes and layers -------------------------------------------------------------------------

const Status = Web.get("/status", () => Effect.succeed({ ok: true }))

const Echo = Web.post(
  "/echo",
  { body: Schema.Struct({ text: Schema.String, times: Schema.optional(Schema.Int) }) },
  ({ body }) => Effect.succeed({ echoed: body.text.repeat(body.times ?? 1) })
)

const User = Web.get(
  "/users/:id",
  {
    params: Schema.Struct({ id: Schema.NumberFromString }),
    query: Schema.Struct({ verbose: Schema.optional(Schema.Literal("yes", "no")) })
  },
  ({ params, query }) => Effect.succeed({ id: params.id, verbose: query.verbose ?? "no" })
)

const Incr = Web.post("/incr", { body: Schema.Struct({ by: Schema.optional(Schema.Int) }) }, ({ body }) =>
  Effect.flatMap(Counter, (counter) => Ref.updateAndGet(counter, (n) => n + (body.by ?? 1)))
).pipe(Web.requireToken("s3cret"))

const Failures = Layer.mergeAll(
  Web.get("/conflict", () => Effect.fail(new Web.WebError({ reason: "Conflict", message: "already there" }))),
  Web.get("/boom", () => Effect.fail("secret detail")),
  Web.get("/die", () => Effect.die(new Error("bug"))),
  Web.del("/thing", () => Effect.void)
)

const Quiet = Logger.minimumLogLevel(LogLevel.None)

const TestLive = Layer.mergeAll(Status, Echo, User, Incr, Failures).pipe(
  Layer.provideMerge(Web.layer({ port: 0 })),
  Layer.provideMerge(Layer.effect(Counter, Ref.make(0))),
  Layer.provide(Quiet)
)

const SmallBodyLive = Echo.pipe(Layer.provideMerge(Web.layer({ port: 0, maxBodySize: 100 })))

const LimitedLive = Status.pipe(
  Layer.provideMerge(
    Web.layer({ port: 0, maxConnections: 2, headersTimeout: "300 millis", requestTimeout: "1 second" })
  )
)
