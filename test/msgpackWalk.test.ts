/**
 * The one msgpack structure walk both readers use (client bodies, node link frames): its boundary
 * rules, and each reader's extension policy.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Msgpackr from "msgpackr"
import * as BodyGuard from "../src/internal/edge/bodyGuard.js"
import { linkExtensions } from "../src/internal/link/frameCodec.js"
import * as MsgpackWalk from "../src/internal/wire/msgpackWalk.js"

const link = (bytes: Uint8Array, maxDepth: number) =>
  MsgpackWalk.check(bytes, 0, bytes.length, maxDepth, new Float64Array(maxDepth), linkExtensions)
const body = (bytes: Uint8Array, maxDepth: number) => BodyGuard.msgpackProblem(bytes, maxDepth)
const packr = new Msgpackr.Packr({ useRecords: false, structuredClone: false })

describe("msgpack walk", () => {
  it("every container counts toward the depth, empty or not, in both readers", () => {
    for (const read of [link, body]) {
      expect(read(packr.pack([[]]), 2)).toBeUndefined()
      expect(read(packr.pack([[]]), 1)?.kind).toBe("Depth")
      expect(read(packr.pack({ a: {} }), 1)?.kind).toBe("Depth")
      expect(read(packr.pack([1, [2, [3]]]), 3)).toBeUndefined()
      expect(read(packr.pack([1, [2, [3]]]), 2)?.kind).toBe("Depth")
    }
  })

  it("exactly one value: truncated and trailing bytes are refused as Syntax", () => {
    const value = packr.pack({ a: [1, 2, "three"] })
    for (const read of [link, body]) {
      expect(read(value, 8)).toBeUndefined()
      expect(read(value.subarray(0, value.length - 1), 8)?.kind).toBe("Syntax")
      expect(read(Buffer.concat([value, Buffer.from([0xc0])]), 8)?.detail).toMatch(/trailing/)
      // a count no frame could hold is refused without allocating for it
      expect(read(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]), 8)?.detail).toMatch(
        /larger than the bytes left/
      )
      expect(read(Buffer.from([0xc1]), 8)?.detail).toMatch(/not msgpack/)
    }
  })

  it("extension policies: dates in both, a Set (wrapping, counted as a level) on links only, records nowhere", () => {
    const date = packr.pack(new Date(0))
    expect(link(date, 4)).toBeUndefined()
    expect(body(date, 4)).toBeUndefined()
    const set = new Msgpackr.Packr({ useRecords: false, moreTypes: true }).pack(new Set([1, 2]))
    expect(link(set, 4)).toBeUndefined()
    expect(link(set, 1)?.kind).toBe("Depth")
    expect(body(set, 4)?.detail).toMatch(/extension type 115 is not accepted/)
    const records = new Msgpackr.Packr({ useRecords: true }).pack([{ a: 1 }, { a: 2 }])
    expect(link(records, 8)?.detail).toMatch(/extension type/)
    expect(body(records, 8)?.detail).toMatch(/extension type/)
  })
})
