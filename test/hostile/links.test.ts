/**
 * Hostile suite, node links: rogue peers against a rootport over real
 * sockets. Every test ends by checking that the node is alive and that a
 * well-behaved child is still served.
 */
import * as Net from "node:net"
import { Rpc, RpcGroup } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Msgpackr from "msgpackr"
import { linkExtensions } from "../../src/internal/link/frameCodec.js"
import * as Handshake from "../../src/internal/link/handshake.js"
import { endpointOf } from "../../src/internal/rpc/rpcSession.js"
import { channelKey } from "../../src/internal/rpc/rpcWire.js"
import * as MsgpackWalk from "../../src/internal/wire/msgpackWalk.js"
import { RegistrationRefused } from "../../src/NodeError.js"
import * as Remote from "../../src/Remote.js"
import { type ParentStatus } from "../../src/Remote.js"
import * as Root from "../../src/Root.js"
import * as Transport from "../../src/Transport.js"
import { type TcpOptions } from "../../src/Transport.js"
import { callerOf } from "../support/caller.js"
import { until } from "../support/wait.js"
import { CLOSED, frame, heapUsed, RawPeer, rawJoin, splitFrames } from "./linkPeer.js"

const SECRET = "correct horse battery staple"
const WRONG = "incorrect donkey battery staple"

class Echo extends RpcGroup.make(
  Rpc.make("whoami", { success: Schema.String }),
  Rpc.make("big", { payload: { size: Schema.Number }, success: Schema.String }),
  Rpc.make("whoStream", { success: Schema.String, stream: true })
) {}

class Pushed extends RpcGroup.make(Rpc.make("push", { payload: { data: Schema.String } })) {}

const EchoHandlers = Echo.toLayer({
  whoami: (_, options) => Effect.succeed(callerOf(options)),
  big: ({ size }) => Effect.succeed("x".repeat(size)),
  whoStream: (_, options) => Stream.make(callerOf(options))
})

const fast = { interval: "200 millis", timeout: "1500 millis" } as const

/** The parent "gate": secret SECRET, a 1 s handshake deadline, serving Echo. */
const startRoot = (
  options: {
    readonly secret?: string | undefined
    readonly name?: string
    readonly helloTimeout?: Duration.DurationInput
  } = {}
) =>
  Effect.map(
    Layer.build(
      Root.serve(Echo, EchoHandlers).pipe(
        Layer.provideMerge(
          Root.layer({
            name: options.name ?? "gate",
            host: "127.0.0.1",
            port: 0,
            secret: "secret" in options ? options.secret : SECRET,
            helloTimeout: options.helloTimeout ?? "1 second",
            heartbeat: fast
          })
        )
      )
    ),
    Context.get(Root.Root)
  )

/** A child of `root` named `name`, with `secret`. */
const startChild = (root: Root.Root["Type"], name: string, secret: string | undefined, parent = root.name) =>
  Effect.map(
    Layer.build(
      Remote.layer({
        name,
        parents: [{ name: parent, host: "127.0.0.1", port: root.address.port }],
        secret,
        helloTimeout: "1 second",
        heartbeat: fast,
        reconnect: { base: "50 millis", max: "200 millis" }
      })
    ),
    Context.get(Remote.Remote)
  )

/** The first refusal a child reports for `parent`. */
const refusal = (remote: Remote.Remote["Type"], parent: string) =>
  remote.changes(parent).pipe(
    Stream.filterMap((status: ParentStatus) =>
      status._tag === "Connecting" && status.lastError instanceof RegistrationRefused
        ? Option.some(status.lastError)
        : Option.none()
    ),
    Stream.runHead,
    Effect.map(Option.getOrThrow)
  )

/** A well-behaved child "game1" that is registered and answered. */
const goodChild = (root: Root.Root["Type"]) =>
  Effect.gen(function* () {
    const child = yield* startChild(root, "game1", SECRET)
    yield* child.awaitConnected(root.name)
    return child
  })

/** The node is alive and serves the well-behaved child. */
const stillServes = (child: Remote.Remote["Type"], root: Root.Root["Type"]) =>
  Effect.gen(function* () {
    const gate = yield* child.parent(root.name, Echo)
    expect(yield* gate.whoami()).toBe("game1")
    expect(yield* gate.big({ size: 10 })).toBe("xxxxxxxxxx")
  })

const live = <A, E>(
  name: string,
  effect: Effect.Effect<A, E, import("effect/Scope").Scope | Transport.Transport>,
  tcp?: TcpOptions
) =>
  it.scopedLive(
    name,
    () => effect.pipe(Effect.provide(Transport.layerTcp(tcp)), Effect.timeout("25 seconds")),
    30_000
  )

describe("hostile: node links (rootport)", () => {
  live(
    "a rogue with no secret or a wrong secret cannot register; the right secret can; refusals are counted",
    Effect.gen(function* () {
      const root = yield* startRoot()
      const noSecret = yield* startChild(root, "game1", undefined)
      expect((yield* refusal(noSecret, "gate")).reason).toBe("Unauthenticated")
      const wrong = yield* startChild(root, "game1", WRONG)
      const refused = yield* refusal(wrong, "gate")
      expect(refused.reason).toBe("Unauthenticated")
      expect(refused.message).toContain("HOTARU_SECRET")
      expect(yield* root.children).toEqual([])
      // by hand too: the acceptor answers frame 6 "Unauthenticated", then closes
      const raw = yield* Effect.promise(() => rawJoin(root.address.port, "game1", "gate", WRONG))
      expect(raw.answer).toEqual([Handshake.F_REFUSED, "Unauthenticated", "gate"])
      yield* Effect.promise(() => raw.peer.closed())
      // a hello without a nonce (a node that does not do the handshake)
      const old = yield* Effect.promise(() => RawPeer.connect(root.address.port))
      old.send([Handshake.F_HELLO, "game1", "gate"])
      expect(yield* Effect.promise(() => old.next())).toEqual([
        Handshake.F_REFUSED,
        "Unauthenticated",
        "gate"
      ])

      const stats = yield* root.stats
      expect(stats.unauthenticated).toBeGreaterThanOrEqual(4)
      const child = yield* goodChild(root)
      yield* stillServes(child, root)
      expect(yield* root.children).toEqual(["game1"])
    })
  )

  live(
    "a child does not register with a parent that cannot prove the secret",
    Effect.gen(function* () {
      const impostor = yield* startRoot({ secret: WRONG })
      const child = yield* startChild(impostor, "game1", SECRET)
      const refused = yield* refusal(child, "gate")
      expect(refused.reason).toBe("Unauthenticated")
      expect(yield* impostor.children).toEqual([])
    })
  )

  live(
    "a replayed handshake fails: the acceptor's nonce is fresh on every link",
    Effect.gen(function* () {
      const root = yield* startRoot()
      // a proxy between a real child and the root records what the child sends
      const recorded: Array<Buffer> = []
      const proxy = Net.createServer((inbound) => {
        const outbound = Net.connect(root.address.port, "127.0.0.1")
        inbound.on("data", (chunk: Buffer) => {
          recorded.push(chunk)
          outbound.write(chunk)
        })
        outbound.on("data", (chunk: Buffer) => inbound.write(chunk))
        inbound.on("error", () => outbound.destroy())
        outbound.on("error", () => inbound.destroy())
        inbound.on("close", () => outbound.destroy())
        outbound.on("close", () => inbound.destroy())
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => {
          proxy.listen(0, "127.0.0.1", () => resume(Effect.void))
        }),
        () => Effect.sync(() => void proxy.close())
      )
      const proxyPort = (proxy.address() as Net.AddressInfo).port
      const child = yield* Effect.map(
        Layer.build(
          Remote.layer({
            name: "game1",
            parents: [{ name: "gate", host: "127.0.0.1", port: proxyPort }],
            secret: SECRET,
            heartbeat: fast
          })
        ),
        Context.get(Remote.Remote)
      )
      yield* child.awaitConnected("gate")
      const [hello, proof] = splitFrames(Buffer.concat(recorded))
      expect(hello).toBeDefined()
      expect(proof).toBeDefined()

      // the captured hello and proof, replayed byte for byte on a new link
      const replay = yield* Effect.promise(() => RawPeer.connect(root.address.port))
      replay.socket.write(hello!)
      const challenge = (yield* Effect.promise(() => replay.next())) as Array<unknown>
      expect(challenge[0]).toBe(Handshake.F_CHALLENGE)
      replay.socket.write(proof!)
      expect(yield* Effect.promise(() => replay.next())).toEqual([
        Handshake.F_REFUSED,
        "Unauthenticated",
        "gate"
      ])
      expect((yield* root.stats).unauthenticated).toBe(1)
      // the real child is untouched
      yield* stillServes(child, root)
    })
  )

  live(
    "frames before the handshake: a 2 MiB frame and a declared 16 MiB length close the link at once",
    Effect.gen(function* () {
      const root = yield* startRoot()
      const child = yield* goodChild(root)
      const emptyMaps = Buffer.alloc(2 * 1024 * 1024, 0x80) // 2 MiB of msgpack {} values
      const header = Buffer.alloc(4)
      header.writeUInt32BE(emptyMaps.length)
      const big = yield* Effect.promise(() => RawPeer.connect(root.address.port))
      const started = Date.now()
      big.socket.write(Buffer.concat([header, emptyMaps]))
      const declared = yield* Effect.promise(() => RawPeer.connect(root.address.port))
      const huge = Buffer.alloc(4)
      huge.writeUInt32BE(16 * 1024 * 1024)
      declared.socket.write(Buffer.concat([huge, Buffer.from([0x80, 0x80])]))
      const closedAt = yield* Effect.promise(() => Promise.all([big.closed(2000), declared.closed(2000)]))
      expect(Math.max(...closedAt) - started).toBeLessThan(2000)
      // a deep or oversized value inside a small hello is refused the same way
      const deep = yield* Effect.promise(() => RawPeer.connect(root.address.port))
      const nested = Buffer.concat([Buffer.alloc(3000, 0x91), Buffer.from([0xc0])])
      const nestedHeader = Buffer.alloc(4)
      nestedHeader.writeUInt32BE(nested.length)
      deep.socket.write(Buffer.concat([nestedHeader, nested]))
      yield* Effect.promise(() => deep.closed(2000))
      // closed for what they sent, not by the deadline
      const stats = yield* root.stats
      expect(stats.badHellos).toBe(3)
      expect(stats.helloTimeouts).toBe(0)
      yield* stillServes(child, root)
    })
  )

  live(
    "a handshake that does not finish in time is closed at the deadline (silent, or one byte at a time)",
    Effect.gen(function* () {
      const root = yield* startRoot()
      const child = yield* goodChild(root)
      const silent = yield* Effect.promise(() => RawPeer.connect(root.address.port))
      const started = Date.now()
      const drip = yield* Effect.promise(() => RawPeer.connect(root.address.port))
      const hello = frame([Handshake.F_HELLO, "game2", "gate", Buffer.alloc(32)])
      let i = 0
      const dripping = Effect.sync(() => {
        if (i < hello.length && drip.closedAt === undefined) drip.socket.write(hello.subarray(i, ++i))
      }).pipe(Effect.zipRight(Effect.sleep("50 millis")), Effect.forever, Effect.forkScoped)
      yield* dripping
      const closedAt = yield* Effect.promise(() => Promise.all([silent.closed(6000), drip.closed(6000)]))
      for (const at of closedAt) {
        expect(at - started).toBeGreaterThanOrEqual(900)
        expect(at - started).toBeLessThan(4000)
      }
      expect((yield* root.stats).helloTimeouts).toBe(2)
      yield* stillServes(child, root)
    })
  )

  live(
    "a flood of connections that never say hello: at most 256 handshakes wait, the rest are closed at once",
    Effect.gen(function* () {
      // a deadline long enough that, even on a loaded machine, every connection is accepted
      // before the first waiting handshake times out and frees its slot
      const root = yield* startRoot({ helloTimeout: "6 seconds" })
      const child = yield* goodChild(root)
      const peers = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 300 }, () => RawPeer.connect(root.address.port)))
      )
      // the 44 beyond the limit are closed as they arrive; the others wait for the deadline
      yield* Effect.gen(function* () {
        const closed = peers.filter((p) => p.closedAt !== undefined).length
        if ((yield* root.stats).overloaded < 44 || closed < 44) return yield* Effect.fail("not yet")
      }).pipe(Effect.retry(Schedule.spaced("50 millis")), Effect.timeout("4 seconds"))
      expect((yield* root.stats).overloaded).toBe(44)
      expect(peers.filter((p) => p.closedAt !== undefined).length).toBe(44)
      yield* stillServes(child, root)
      yield* Effect.promise(() => Promise.all(peers.map((p) => p.closed(12_000))))
      expect((yield* root.stats).helloTimeouts).toBe(256)
      // the slots are free again: a new child registers
      const again = yield* startChild(root, "game2", SECRET)
      yield* again.awaitConnected("gate")
      yield* stillServes(child, root)
    })
  )

  live(
    "the caller is the authenticated session: a peer-sent hotaru-caller header is dropped",
    Effect.gen(function* () {
      const root = yield* startRoot()
      const child = yield* goodChild(root)
      const gate = yield* child.parent("gate", Echo)
      // through the typed client: fast rpc and stream rpc (the stock path)
      const spoof = { headers: { "hotaru-caller": "master", "x-trace": "1" } }
      expect(yield* gate.whoami(undefined, spoof)).toBe("game1")
      expect(Chunk.toReadonlyArray(yield* Stream.runCollect(gate.whoStream(undefined, spoof)))).toEqual([
        "game1"
      ])

      // by hand: a rogue that authenticated as "rogue" claims to be "master"
      const { answer, peer } = yield* Effect.promise(() =>
        rawJoin(root.address.port, "rogue", "gate", SECRET)
      )
      expect(answer).toEqual([Handshake.F_WELCOME, "gate"])
      const { key } = channelKey(Echo)
      peer.send([7, key, 1, "whoami", {}, ["hotaru-caller", "master", "HOTARU-CALLER", "master"]])
      expect(yield* Effect.promise(() => nextOf(peer, 8))).toEqual([8, 1, "rogue"])
      peer.send([
        0,
        key,
        {
          _tag: "Request",
          id: "1",
          tag: "whoStream",
          payload: {},
          headers: [
            ["hotaru-caller", "master"],
            ["Hotaru-Caller", "master"]
          ]
        }
      ])
      const chunk = (yield* Effect.promise(() => nextOf(peer, 1))) as [
        number,
        number,
        { values: Array<string> }
      ]
      expect(chunk[2].values).toEqual(["rogue"])
      yield* stillServes(child, root)
    })
  )

  live(
    "fast-check: garbage into the link decoder never throws and never takes the node down",
    Effect.gen(function* () {
      // the decoder itself: any bytes are accepted or rejected, never thrown out
      const stack = new Float64Array(101)
      const unpackr = new Msgpackr.Unpackr({ useRecords: false, structuredClone: false, mapsAsObjects: true })
      const decode = (bytes: Uint8Array) => {
        if (MsgpackWalk.check(bytes, 0, bytes.length, 100, stack, linkExtensions) !== undefined)
          return "rejected"
        try {
          unpackr.unpack(bytes, { start: 0, end: bytes.length })
          return "decoded"
        } catch {
          return "rejected"
        }
      }
      FastCheck.assert(
        FastCheck.property(FastCheck.uint8Array({ maxLength: 512 }), (bytes) => {
          expect(() => MsgpackWalk.check(bytes, 0, bytes.length, 100, stack, linkExtensions)).not.toThrow()
          decode(bytes)
        }),
        { numRuns: 3000 }
      )
      // whatever msgpack packs from JSON-like values passes the check and decodes
      const packr = new Msgpackr.Packr({ useRecords: false })
      FastCheck.assert(
        FastCheck.property(FastCheck.jsonValue({ maxDepth: 20 }), (value) => {
          expect(decode(packr.pack(value))).toBe("decoded")
        }),
        { numRuns: 500 }
      )
      // shared references, records, and nesting past the limit are refused
      const structured = new Msgpackr.Packr({ structuredClone: true, useRecords: true })
      const shared = { a: [1, 2, 3] }
      expect(decode(structured.pack([shared, shared]))).toBe("rejected")
      expect(decode(structured.pack([{ a: 1, b: 2 }]))).toBe("rejected")
      expect(decode(Buffer.concat([Buffer.alloc(101, 0x91), Buffer.from([0xc0])]))).toBe("rejected")
      expect(decode(Buffer.concat([Buffer.alloc(100, 0x91), Buffer.from([0xc0])]))).toBe("decoded")

      // over real sockets: garbage before the handshake, and garbage frames after it
      const root = yield* startRoot()
      const child = yield* goodChild(root)
      const samples = FastCheck.sample(FastCheck.uint8Array({ minLength: 1, maxLength: 2048 }), 40)
      for (const bytes of samples) {
        const peer = yield* Effect.promise(() => RawPeer.connect(root.address.port))
        peer.socket.write(bytes)
        peer.socket.end()
      }
      const { answer, peer } = yield* Effect.promise(() =>
        rawJoin(root.address.port, "rogue", "gate", SECRET)
      )
      expect(answer).toEqual([Handshake.F_WELCOME, "gate"])
      for (const value of FastCheck.sample(FastCheck.anything({ maxDepth: 6 }), 200)) {
        try {
          peer.send(value)
        } catch {
          // a value msgpackr cannot pack at all
        }
      }
      for (const value of FastCheck.sample(
        FastCheck.tuple(FastCheck.integer({ min: 0, max: 12 }), FastCheck.anything({ maxDepth: 4 })),
        200
      )) {
        try {
          peer.send([value[0], value[1], value[1], value[1], value[1], value[1]])
        } catch {
          // idem
        }
      }
      yield* Effect.sleep("300 millis")
      yield* stillServes(child, root)
      expect(yield* root.children).toContain("game1")
    })
  )

  live(
    "a peer that authenticates and never reads is dropped; what is queued for it stays under the cap",
    Effect.gen(function* () {
      const root = yield* startRoot()
      const child = yield* goodChild(root)
      const heapBefore = heapUsed()

      // 1. the parent pushes to a child that never reads
      const { answer, peer } = yield* Effect.promise(() =>
        rawJoin(root.address.port, "rogue", "gate", SECRET)
      )
      expect(answer).toEqual([Handshake.F_WELCOME, "gate"])
      peer.socket.pause()
      yield* root.awaitChild("rogue")
      const session = [...endpointOf(root).sessions.values()].find((s) => s.peerName === "rogue")!
      const rogue = yield* root.child("rogue", Pushed)
      const data = "y".repeat(64 * 1024)
      let maxQueued = 0
      let sent = 0
      while (!session.link.isClosed() && sent < 4000) {
        for (let i = 0; i < 8; i++) yield* rogue.push({ data }, { discard: true }).pipe(Effect.ignore)
        sent += 8
        maxQueued = Math.max(maxQueued, session.link.queuedBytes())
        yield* Effect.sleep("1 millis")
      }
      const why = yield* session.link.closed
      expect(why.reason).toBe("SlowPeer")
      expect(maxQueued).toBeGreaterThan(1024 * 1024)
      expect(maxQueued).toBeLessThanOrEqual(4 * 1024 * 1024)
      peer.destroy()

      // 2. a child that sends calls with big replies and never reads them
      const second = yield* Effect.promise(() => rawJoin(root.address.port, "rogue2", "gate", SECRET))
      expect(second.answer).toEqual([Handshake.F_WELCOME, "gate"])
      second.peer.socket.pause()
      const { key } = channelKey(Echo)
      const calls: Array<Buffer> = []
      for (let id = 1; id <= 3000; id++) calls.push(frame([7, key, id, "big", { size: 64 * 1024 }]))
      yield* root.awaitChild("rogue2")
      const session2 = [...endpointOf(root).sessions.values()].find((s) => s.peerName === "rogue2")!
      second.peer.socket.write(Buffer.concat(calls))
      // the replies it does not read stop its requests being read, then pass the cap
      expect((yield* session2.link.closed).reason).toBe("SlowPeer")
      yield* Effect.promise(() => second.peer.closed(10_000))
      const heapAfter = heapUsed()
      // 3000 replies of 64 KiB would be 190 MiB; the cap is 4 MiB
      expect(heapAfter - heapBefore).toBeLessThan(64 * 1024 * 1024)
      yield* stillServes(child, root)
      expect([...(yield* root.children)].sort()).toEqual(["game1"])
    }),
    { maxQueuedBytes: 4 * 1024 * 1024 }
  )

  live(
    "a peer that does not read its replies gets no more requests read, then is dropped by the heartbeat",
    Effect.gen(function* () {
      let served = 0
      const root = yield* Effect.map(
        Layer.build(
          Root.serve(
            Echo,
            Echo.toLayer({
              whoami: (_, options) => Effect.succeed(callerOf(options)),
              big: ({ size }) => Effect.sync(() => ++served).pipe(Effect.as("x".repeat(size))),
              whoStream: (_, options) => Stream.make(callerOf(options))
            })
          ).pipe(
            Layer.provideMerge(
              Root.layer({ name: "gate", host: "127.0.0.1", port: 0, secret: SECRET, heartbeat: fast })
            )
          )
        ),
        Context.get(Root.Root)
      )
      const child = yield* goodChild(root)
      const { answer, peer } = yield* Effect.promise(() =>
        rawJoin(root.address.port, "rogue", "gate", SECRET)
      )
      expect(answer).toEqual([Handshake.F_WELCOME, "gate"])
      yield* root.awaitChild("rogue")
      const session = [...endpointOf(root).sessions.values()].find((s) => s.peerName === "rogue")!
      peer.socket.pause()
      const { key } = channelKey(Echo)
      const calls = (from: number, n: number) =>
        Buffer.concat(
          Array.from({ length: n }, (_, i) => frame([7, key, from + i, "big", { size: 64 * 1024 }]))
        )
      // 300 replies of 64 KiB: more than the kernel holds, above the 1 MiB high-water mark
      peer.socket.write(calls(1, 300))
      yield* until(
        "the 300 calls served, their replies queued above the high-water mark",
        () => served >= 300 && session.link.queuedBytes() > 1024 * 1024,
        10_000
      )
      expect(served).toBe(300)
      expect(session.link.queuedBytes()).toBeGreaterThan(1024 * 1024)
      peer.socket.write(calls(301, 1000))
      yield* Effect.sleep("300 millis")
      // reading stopped: the later requests were not read
      expect(served).toBe(300)
      expect((yield* session.link.closed).reason).toBe("HeartbeatTimeout")
      yield* stillServes(child, root)
    }),
    { maxQueuedBytes: 64 * 1024 * 1024 }
  )
})

/** The next frame of `peer` whose tag is `tag`. */
const nextOf = async (peer: RawPeer, tag: number): Promise<unknown> => {
  while (true) {
    const next = await peer.next()
    if (next === CLOSED) throw new Error("closed")
    if (Array.isArray(next) && next[0] === tag) return next
  }
}
