import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Frame from "../src/internal/edge/frame.js"

const options = Frame.frameOptions({
  head: [1, 2, 3, 4],
  protoVersion: 9,
  serverVersion: 77,
  maxLength: 4096
})

const frameArb = fc.record({
  command: fc.integer({ min: 0, max: 0xfffffffe }),
  body: fc.uint8Array({ maxLength: 300 })
})

/** Split `bytes` at the given cut points. */
const split = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let last = 0
  for (const p of points) {
    out.push(bytes.subarray(last, p))
    last = p
  }
  out.push(bytes.subarray(last))
  return out
}

const decodeAll = (chunks: ReadonlyArray<Uint8Array>, opts = options) => {
  const decoder = new Frame.Decoder(opts)
  const frames: Array<{ command: number; body: Uint8Array }> = []
  let violation: Frame.FrameViolation | undefined
  for (const chunk of chunks) {
    violation = decoder.push(chunk, (command, body) => {
      frames.push({ command, body: Uint8Array.from(body) })
    })
    if (violation) break
  }
  return { frames, violation, decoder }
}

describe("frame codec", () => {
  it("encodes firefly's 17-byte header", () => {
    const buf = Frame.encodeBuffer(Frame.defaultFrameOptions, 100, Buffer.from("msgdata"))
    expect(buf.length).toBe(17 + 7)
    expect([...buf.subarray(0, 5)]).toEqual([0, 0, 0, 0, 0])
    expect(buf.readUInt32BE(5)).toBe(0)
    expect(buf.readUInt32BE(9)).toBe(7 + 4)
    expect(buf.readUInt32BE(13)).toBe(100)
    expect(buf.subarray(17).toString()).toBe("msgdata")
  })

  it("any split of the stream decodes to the same frames", () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (frames, cuts) => {
          const stream = Buffer.concat(frames.map((f) => Frame.encodeBuffer(options, f.command, f.body)))
          const { frames: decoded, violation, decoder } = decodeAll(split(stream, cuts))
          expect(violation).toBeUndefined()
          expect(decoder.buffered).toBe(0)
          expect(decoded).toEqual(frames.map((f) => ({ command: f.command, body: Uint8Array.from(f.body) })))
        }
      ),
      { numRuns: 300 }
    )
  })

  it("byte-by-byte feeding decodes the same", () => {
    const frames = [
      { command: 1, body: Buffer.from("a") },
      { command: 2, body: Buffer.alloc(0) }
    ]
    const stream = Buffer.concat(frames.map((f) => Frame.encodeBuffer(options, f.command, f.body)))
    const { frames: decoded } = decodeAll([...stream].map((b) => Uint8Array.of(b)))
    expect(decoded.map((f) => f.command)).toEqual([1, 2])
    expect(Buffer.from(decoded[0]!.body).toString()).toBe("a")
  })

  it("garbage never throws, never buffers past one header + max body, and stays failed", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (bytes, cuts) => {
          const decoder = new Frame.Decoder(options)
          let violation: Frame.FrameViolation | undefined
          for (const chunk of split(bytes, cuts)) {
            violation = decoder.push(chunk, () => {})
            expect(decoder.buffered).toBeLessThanOrEqual(Frame.HEADER_SIZE + options.maxLength)
            if (violation) break
          }
          if (violation) {
            expect(["BadHeader", "LengthTooSmall", "LengthTooLarge"]).toContain(violation.reason)
            expect(decoder.push(Uint8Array.of(1, 2, 3), () => expect.unreachable())).toBe(violation)
            expect(decoder.buffered).toBe(0)
          }
        }
      ),
      { numRuns: 500 }
    )
  })

  it("a wrong head byte is refused at once, before the header is complete", () => {
    const decoder = new Frame.Decoder(options)
    expect(decoder.push(Uint8Array.of(1, 2, 9), () => {})?.reason).toBe("BadHeader")
  })

  it("a wrong server version is refused", () => {
    const other = Frame.encodeBuffer({ ...options, serverVersion: 78 }, 1, Buffer.from("x"))
    expect(decodeAll([other]).violation?.reason).toBe("BadHeader")
  })

  it("length < 4 is refused", () => {
    const buf = Frame.encodeBuffer(options, 1, Buffer.alloc(0))
    buf.writeUInt32BE(3, 9)
    expect(decodeAll([buf]).violation?.reason).toBe("LengthTooSmall")
  })

  it("an oversized length is refused from the header alone, without buffering the body", () => {
    const header = Frame.encodeBuffer(options, 1, Buffer.alloc(0))
    header.writeUInt32BE(0xffffffff, 9)
    const { violation, decoder } = decodeAll([header])
    expect(violation?.reason).toBe("LengthTooLarge")
    expect(decoder.buffered).toBe(0)
    // exactly the maximum is fine
    const max = Frame.encodeBuffer(options, 5, Buffer.alloc(options.maxLength, 7))
    expect(decodeAll([max]).frames).toHaveLength(1)
  })

  it("a stop leaves the rest buffered; resume decodes the same frames, whatever the split and stops", () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.array(fc.boolean(), { maxLength: 60 }),
        (frames, cuts, stops) => {
          const stream = Buffer.concat(frames.map((f) => Frame.encodeBuffer(options, f.command, f.body)))
          const decoder = new Frame.Decoder(options)
          const got: Array<{ command: number; body: Uint8Array }> = []
          let i = 0
          const onFrame = (command: number, body: Uint8Array) => {
            got.push({ command, body: Uint8Array.from(body) })
            return stops[i++ % Math.max(1, stops.length)] !== true
          }
          for (const chunk of split(stream, cuts)) {
            if (decoder.isStopped) decoder.append(Buffer.from(chunk))
            else expect(decoder.push(chunk, onFrame)).toBeUndefined()
          }
          for (let guard = 0; decoder.isStopped && guard < 1000; guard++) {
            expect(decoder.resume(onFrame)).toBeUndefined()
          }
          expect(decoder.buffered).toBe(0)
          expect(got).toEqual(frames.map((f) => ({ command: f.command, body: Uint8Array.from(f.body) })))
        }
      ),
      { numRuns: 300 }
    )
  })

  it("garbage with random stops never throws and never buffers past one frame plus one chunk", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.boolean(), { maxLength: 20 }),
        (chunks, stops) => {
          const decoder = new Frame.Decoder(options)
          let i = 0
          const onFrame = () => stops[i++ % Math.max(1, stops.length)] !== true
          for (const chunk of chunks) {
            const violation = decoder.isStopped ? decoder.resume(onFrame) : decoder.push(chunk, onFrame)
            if (violation) {
              expect(decoder.buffered).toBe(0)
              break
            }
            expect(decoder.buffered).toBeLessThanOrEqual(Frame.HEADER_SIZE + options.maxLength + 300)
          }
        }
      ),
      { numRuns: 500 }
    )
  })

  it("reassembles a large frame sent one byte at a time in linear time", () => {
    const big = Frame.encodeBuffer(Frame.defaultFrameOptions, 7, Buffer.alloc(512 * 1024, 0x5a))
    const decoder = new Frame.Decoder(Frame.defaultFrameOptions)
    const got: Array<number> = []
    const start = performance.now()
    for (let i = 0; i < big.length; i++) {
      decoder.push(big.subarray(i, i + 1), (command, body) => {
        got.push(command, body.length)
      })
    }
    // quadratic copying would move ~137 GB here
    expect(performance.now() - start).toBeLessThan(5000)
    expect(got).toEqual([7, 512 * 1024])
    expect(decoder.buffered).toBe(0)
  })
})
