/**
 * The frame codec of TCP links: msgpackr options (a frame is one msgpack
 * value behind its uint32 BE length) and the msgpack extensions a received
 * frame may use (`MsgpackWalk.check` refuses the others before decoding).
 *
 * @internal
 */
import * as Msgpackr from "msgpackr"
import type * as MsgpackWalk from "../wire/msgpackWalk.js"

/** `pack` option: reserve 4 bytes (the frame's length) in front of the packed message. */
export const RESERVE_HEADER = Msgpackr.RESERVE_START_SPACE | 4

/**
 * msgpackr options of link frames: no records, no shared references (the
 * "structured clone" extension), maps as plain objects.
 */
export const packrOptions = { useRecords: false, structuredClone: false } as const
export const unpackrOptions = { useRecords: false, structuredClone: false, mapsAsObjects: true } as const

/** msgpack extension types accepted in a frame, and whether the value that follows belongs to it. */
export const linkExtensions: MsgpackWalk.ExtensionPolicy = (type) => {
  switch (type) {
    case 0x00: // undefined
    case 0xff: // timestamp (Date)
    case 0x74: // typed arrays
      return false
    case 0x73: // Set: the array that follows
    case 0x65: // Error: the array that follows
      return true
    default:
      // records (0x72), shared references (0x69, 0x70), bundled strings (0x62),
      // RegExp (0x78), big integers (0x42) and unknown types
      return undefined
  }
}
