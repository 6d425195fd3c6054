/**
 * The config keys of node links: `secret`, `tls`, `links`, and HOTARU_SECRET's override.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Inspectable from "effect/Inspectable"
import * as Redacted from "effect/Redacted"
import * as HotaruConfig from "../../src/HotaruConfig.js"

const base = { servers: { gate: { rootport: 10000 } } }
const load = (extra: Record<string, unknown>) =>
  HotaruConfig.fromObject({ ...base, ...extra }, { dir: "/tmp" })

describe("config keys of node links", () => {
  it("secret, tls and links are read and checked", () => {
    const loaded = Either.getOrThrow(
      load({
        secret: "sixteen chars ok",
        tls: { cert: "a.pem", key: "a.key", ca: "ca.pem" },
        links: { helloTimeout: 2, maxFrameBytes: 65536, maxQueuedBytes: 1048576 }
      })
    )
    expect(Redacted.value(loaded.config.secret!)).toBe("sixteen chars ok")
    expect(loaded.config.tls?.ca).toBe("ca.pem")
    expect(loaded.config.links?.maxFrameBytes).toBe(65536)

    const bad = load({
      secret: "short",
      tls: { cert: "a.pem" },
      links: { maxFrameBytes: 10, helloTimeout: 0 }
    })
    expect(Either.isLeft(bad)).toBe(true)
    const issues = Either.isLeft(bad) ? bad.left.issues.join("\n") : ""
    expect(issues).toContain("secret: expected a string of at least 16 characters, got 5 characters")
    expect(issues).not.toContain('"short"')
    expect(issues).toContain("tls.key: is required but missing")
    expect(issues).toContain("links.maxFrameBytes: expected a byte count 1024..2^31-1")
    expect(issues).toContain("links.helloTimeout: expected a positive number")
  })

  it("HOTARU_SECRET overrides the key, and is checked the same way", () => {
    const loaded = Either.getOrThrow(load({ secret: "the one in the file" }))
    const secretOf = (l: HotaruConfig.Loaded) => Redacted.value(l.config.secret!)
    expect(secretOf(Either.getOrThrow(HotaruConfig.withSecret(loaded, "the one in the environment")))).toBe(
      "the one in the environment"
    )
    expect(secretOf(Either.getOrThrow(HotaruConfig.withSecret(loaded, undefined)))).toBe(
      "the one in the file"
    )
    const short = HotaruConfig.withSecret(loaded, "short")
    expect(Either.isLeft(short) && short.left.message).toContain(
      "HOTARU_SECRET: expected a string of at least 16"
    )
    expect(Either.isLeft(short) && short.left.message).not.toContain('"short"')
  })

  it("the secret and the admin token print as <redacted> in every view of a loaded config", () => {
    const loaded = Either.getOrThrow(
      load({ secret: "a-cluster-secret-not-to-print", adminToken: "an-admin-token-not-to-print" })
    )
    expect(Redacted.value(loaded.config.adminToken!)).toBe("an-admin-token-not-to-print")
    const views = [
      String(loaded.config.secret),
      String(loaded.config.adminToken),
      JSON.stringify(loaded),
      Inspectable.format(loaded),
      Inspectable.toStringUnknown(loaded.config)
    ]
    for (const view of views) {
      expect(view).not.toContain("not-to-print")
    }
    // the 0600 snapshot a node process reads back keeps the real values
    const text = HotaruConfig.toJsonText(loaded.config)
    const back = Either.getOrThrow(HotaruConfig.fromObject(JSON.parse(text), { dir: "/tmp" }))
    expect(Redacted.value(back.config.secret!)).toBe("a-cluster-secret-not-to-print")
    expect(Redacted.value(back.config.adminToken!)).toBe("an-admin-token-not-to-print")
  })

  it("an admin token or secret of the wrong type is refused without echoing it", () => {
    const bad = load({ secret: 1234567890123456, adminToken: { x: "sneaky-value" } })
    const issues = Either.isLeft(bad) ? bad.left.issues.join("\n") : ""
    expect(issues).toContain("secret:")
    expect(issues).toContain("adminToken:")
    expect(issues).not.toContain("1234567890123456")
    expect(issues).not.toContain("sneaky-value")
    expect(issues).toContain("adminToken: expected a string, got an object")
  })
})
