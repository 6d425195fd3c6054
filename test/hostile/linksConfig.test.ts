/**
 * The config keys of node links: `secret`, `tls`, `links`, and HOTARU_SECRET's override.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
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
    expect(loaded.config.secret).toBe("sixteen chars ok")
    expect(loaded.config.tls?.ca).toBe("ca.pem")
    expect(loaded.config.links?.maxFrameBytes).toBe(65536)

    const bad = load({
      secret: "short",
      tls: { cert: "a.pem" },
      links: { maxFrameBytes: 10, helloTimeout: 0 }
    })
    expect(Either.isLeft(bad)).toBe(true)
    const issues = Either.isLeft(bad) ? bad.left.issues.join("\n") : ""
    expect(issues).toContain("secret: expected a string of at least 16 characters")
    expect(issues).toContain("tls.key: is required but missing")
    expect(issues).toContain("links.maxFrameBytes: expected a byte count 1024..2^31-1")
    expect(issues).toContain("links.helloTimeout: expected a positive number")
  })

  it("HOTARU_SECRET overrides the key, and is checked the same way", () => {
    const loaded = Either.getOrThrow(load({ secret: "the one in the file" }))
    expect(
      Either.getOrThrow(HotaruConfig.withSecret(loaded, "the one in the environment")).config.secret
    ).toBe("the one in the environment")
    expect(Either.getOrThrow(HotaruConfig.withSecret(loaded, undefined)).config.secret).toBe(
      "the one in the file"
    )
    const short = HotaruConfig.withSecret(loaded, "short")
    expect(Either.isLeft(short) && short.left.message).toContain(
      "HOTARU_SECRET: expected a string of at least 16"
    )
  })
})
