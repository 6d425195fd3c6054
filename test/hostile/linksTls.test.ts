/**
 * Hostile suite, node links over mutual TLS: certificates made at run time
 * with `openssl` (a cluster CA, a node certificate, and a rogue CA).
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Tls from "node:tls"
import { NodeContext } from "@effect/platform-node"
import { Rpc, RpcGroup } from "@effect/rpc"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as HotaruConfig from "../../src/HotaruConfig.js"
import * as Handshake from "../../src/internal/link/handshake.js"
import * as Remote from "../../src/Remote.js"
import * as Root from "../../src/Root.js"
import * as Transport from "../../src/Transport.js"
import { callerOf } from "../support/caller.js"
import { CLOSED, frame, rawJoin } from "./linkPeer.js"

const SECRET = "correct horse battery staple"

class Whoami extends RpcGroup.make(Rpc.make("whoami", { success: Schema.String })) {}

/** A CA and a certificate it signed, as files in `dir` (`<name>.pem`, `<name>.key`, `<ca>.pem`). */
const makeCerts = (dir: string, ca: string, name: string) => {
  const openssl = (...args: Array<string>) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" })
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
  if (!Fs.existsSync(Path.join(dir, `${ca}.pem`))) {
    openssl(
      "req",
      "-x509",
      ...ec,
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${ca}`
    )
  }
  openssl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`)
  openssl(
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.pem`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "2"
  )
  const read = (file: string) => Fs.readFileSync(Path.join(dir, file), "utf8")
  return { cert: read(`${name}.pem`), key: read(`${name}.key`), ca: read(`${ca}.pem`) }
}

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "hotaru-tls-"))
const node = makeCerts(dir, "cluster-ca", "node")
const rogue = makeCerts(dir, "rogue-ca", "rogue")

/** Connect with TLS options; resolves with what happened: data received, or the close. */
const tlsAttempt = (port: number, options: Tls.ConnectionOptions) =>
  new Promise<"answered" | "closed">((resolve) => {
    const socket = Tls.connect({ host: "127.0.0.1", port, checkServerIdentity: () => undefined, ...options })
    socket.on("secureConnect", () =>
      socket.write(frame([Handshake.F_HELLO, "game1", "gate", Buffer.alloc(32)]))
    )
    socket.on("data", () => {
      socket.destroy()
      resolve("answered")
    })
    socket.on("error", () => {})
    socket.on("close", () => resolve("closed"))
  })

describe("hostile: node links over mutual TLS", () => {
  it.scopedLive(
    "members with certificates of the cluster CA link; a plain-TCP peer, a peer without a certificate or with another CA's cannot",
    () =>
      Effect.gen(function* () {
        // the root's side from a config's `tls` block (paths relative to the config)
        const loaded = Either.getOrThrow(
          HotaruConfig.fromObject(
            {
              servers: { gate: { rootport: 1 } },
              secret: SECRET,
              tls: { cert: "node.pem", key: "node.key", ca: "cluster-ca.pem" }
            },
            { dir }
          )
        )
        const root = yield* Effect.map(
          Layer.build(
            Root.serve(Whoami, Whoami.toLayer({ whoami: (_, o) => Effect.succeed(callerOf(o)) })).pipe(
              Layer.provideMerge(Root.layer({ name: "gate", host: "127.0.0.1", port: 0, secret: SECRET })),
              Layer.provide(Transport.layerConfig(loaded)),
              Layer.provide(NodeContext.layer)
            )
          ),
          Context.get(Root.Root)
        )
        const port = root.address.port
        const child = yield* Effect.map(
          Layer.build(
            Remote.layer({
              name: "game1",
              parents: [{ name: "gate", host: "127.0.0.1", port }],
              secret: SECRET
            }).pipe(Layer.provide(Transport.layerTcp({ tls: node })))
          ),
          Context.get(Remote.Remote)
        )
        yield* child.awaitConnected("gate").pipe(Effect.timeout("10 seconds"))
        const gate = yield* child.parent("gate", Whoami)
        expect(yield* gate.whoami()).toBe("game1")

        // plain TCP: no handshake frame ever comes back
        const plain = yield* Effect.promise(() => rawJoin(port, "game1", "gate", SECRET))
        expect(plain.answer).toBe(CLOSED)
        // TLS without a client certificate, and with a certificate of another CA
        expect(yield* Effect.promise(() => tlsAttempt(port, { ca: node.ca }))).toBe("closed")
        expect(yield* Effect.promise(() => tlsAttempt(port, { ...rogue, ca: node.ca }))).toBe("closed")
        // a client that trusts only the rogue CA refuses the node's certificate
        expect(yield* Effect.promise(() => tlsAttempt(port, { ...rogue }))).toBe("closed")
        // a member's certificate gets the handshake's challenge
        expect(yield* Effect.promise(() => tlsAttempt(port, node))).toBe("answered")

        // the member is still served
        expect(yield* gate.whoami()).toBe("game1")
        expect(yield* root.children).toEqual(["game1"])
      }).pipe(Effect.timeout("25 seconds")),
    30_000
  )
})
