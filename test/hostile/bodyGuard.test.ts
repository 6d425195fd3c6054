/**
 * The body guards and the codecs behind them on generated hostile input: nothing throws, depth is
 * capped before any recursive decoder runs.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { Packr } from "msgpackr"
import * as BodyGuard from "../../src/internal/edge/bodyGuard.js"
import * as NetCommand from "../../src/NetCommand.js"

const Json = NetCommand.json(1, { request: Schema.Unknown, response: Schema.Unknown })
const Pack = NetCommand.msgpack(2, { request: Schema.Unknown, response: Schema.Unknown })
const Strict = NetCommand.json(3, {
  request: Schema.Struct({ user: Schema.String }),
  response: Schema.String
})

describe("body guards", () => {
  it("JSON depth is counted outside strings only", () => {
    expect(BodyGuard.jsonTooDeep(Buffer.from("[[[]]]"), 3)).toBe(false)
    expect(BodyGuard.jsonTooDeep(Buffer.from("[[[[]]]]"), 3)).toBe(true)
    expect(BodyGuard.jsonTooDeep(Buffer.from('["[[[[\\"[[[["]'), 1)).toBe(false)
    expect(BodyGuard.jsonTooDeep(Buffer.from('{"a":{"b":{}}}'), 2)).toBe(true)
  })

  it("the msgpack walk agrees with msgpackr on valid values and measures their depth", () => {
    const packr = new Packr({ useRecords: false })
    const depth = (v: unknown): number =>
      Array.isArray(v)
        ? 1 + Math.max(0, ...v.map(depth))
        : typeof v === "object" && v !== null
          ? 1 + Math.max(0, ...Object.values(v).map(depth))
          : 0
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        const bytes = packr.pack(value)
        const d = depth(value)
        expect(BodyGuard.msgpackProblem(bytes, Math.max(1, d))).toBeUndefined()
        if (d > 1) expect(BodyGuard.msgpackProblem(bytes, d - 1)?.kind).toBe("Depth")
      }),
      { numRuns: 300 }
    )
  })

  it("random bytes never make a codec throw, and a body past the depth cap is refused as Depth", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        for (const command of [Json, Pack, Strict]) {
          const result = command.decodeRequest(bytes, { maxDepth: 8 })
          if (Either.isLeft(result)) expect(result.left.problem).toBeDefined()
        }
      }),
      { numRuns: 1000 }
    )
    // deep inputs: arrays of arrays in both encodings, and objects in JSON
    const deepJson = fc.integer({ min: 65, max: 20_000 }).map((n) => `${"[".repeat(n)}${"]".repeat(n)}`)
    const deepObj = fc.integer({ min: 65, max: 20_000 }).map((n) => `${'{"a":'.repeat(n)}1${"}".repeat(n)}`)
    fc.assert(
      fc.property(fc.oneof(deepJson, deepObj), (text) => {
        for (const command of [Json, Strict]) {
          const result = command.decodeRequest(Buffer.from(text))
          expect(Either.isLeft(result) && result.left.problem).toBe("Depth")
        }
      }),
      { numRuns: 50 }
    )
    fc.assert(
      fc.property(fc.integer({ min: 65, max: 50_000 }), fc.constantFrom(0x91, 0x81), (n, token) => {
        // fixarray(1) or fixmap(1) nested n deep (map keys are fixint 1)
        const parts =
          token === 0x91
            ? Buffer.alloc(n, 0x91)
            : Buffer.from(Array.from({ length: n }, () => [0x81, 0x01]).flat())
        const result = Pack.decodeRequest(Buffer.concat([parts, Buffer.of(0xc0)]))
        expect(Either.isLeft(result) && result.left.problem).toBe("Depth")
      }),
      { numRuns: 30 }
    )
  })

  it("msgpack extensions other than timestamps and undefined are refused", () => {
    const date = new Packr({ useRecords: false }).pack(new Date(0))
    expect(Either.isRight(Pack.decodeRequest(date))).toBe(true)
    // msgpackr writes undefined as extension 0
    const undef = Pack.decodeRequest(new Packr({ useRecords: false }).pack([1, undefined]))
    expect(Either.isRight(undef) && undef.right).toEqual([1, undefined])
    for (const value of [new Set([1]), /a+/, new Error("x"), new Uint16Array(2)]) {
      const bytes = new Packr({ useRecords: false, moreTypes: true }).pack(value)
      const result = Pack.decodeRequest(bytes)
      expect(Either.isLeft(result) && result.left.problem).toBe("Syntax")
    }
  })
})
