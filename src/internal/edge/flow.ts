/**
 * The flow of one edge's bytes: writes and reading under backpressure.
 *
 * The frames a connection gets within a tick leave in one write, at the end of it. Bytes queued
 * for a connection (this tick's batch + what its socket holds) never pass `maxBuffered` (one
 * buffer into an empty queue excepted): the connection is kicked instead; above `highWater` it
 * stops being read and parsed until its socket drains. Reading is paused while any hold bit is
 * set; frames are parsed only while none is.
 */
import { Cause } from "effect"
import { type ConnectionState, HOLD_CLOSED, HOLD_WRITE } from "./connection.js"
import type { Edge } from "./edge.js"
import type * as Frame from "./frame.js"

/** The flow operations of one edge. */
export interface Flow {
  /** Stop reading and close the connection now (its close event does the rest). */
  readonly close: (state: ConnectionState) => void
  /** The connection could not be handled safely: close it, count and log (rate-limited). */
  readonly edgeDefect: (state: ConnectionState, defect: unknown) => void
  /** Kick a client that does not read what it is sent. */
  readonly slowConsumer: (state: ConnectionState, why: () => string) => void
  /**
   * Queue a frame for this tick's write of the connection: counted in its `sentFrames` and kept
   * in its resume ring, if it has one (also while its session is parked: no socket then).
   */
  readonly write: (state: ConnectionState, buf: Buffer) => void
  /** Queue a frame as it is: a system frame, or one replayed from the resume ring. */
  readonly send: (state: ConnectionState, buf: Buffer) => void
  /** Write the connection's batch now. */
  readonly flushOne: (state: ConnectionState) => void
  readonly hold: (state: ConnectionState, bit: number) => void
  /** Clear a hold bit; with none left, parse what was buffered and read again. */
  readonly release: (state: ConnectionState, bit: number) => void
  /** After a parse: close on a violation, else track the unfinished frame's deadline. */
  readonly parsed: (state: ConnectionState, violation: Frame.FrameViolation | undefined, now: number) => void
  /** Bytes the connection sent. */
  readonly received: (state: ConnectionState, chunk: Buffer) => void
}

const close = (state: ConnectionState) => {
  state.hold |= HOLD_CLOSED
  state.socket.destroy()
}

/** Closing a connection the edge cannot serve: an internal error, a slow consumer. */
const kicks = ({ report }: Edge) => ({
  edgeDefect: (state: ConnectionState, defect: unknown) => {
    close(state)
    const why = () => "closing connection after an internal error"
    report("edgeDefects", state.info, "error", why, Cause.die(defect))
  },
  slowConsumer: (state: ConnectionState, why: () => string) => {
    close(state)
    report("slowConsumers", state.info, "warning", () => `kicking slow consumer: ${why()}`)
  }
})

/** The flow of an edge. */
export const make = (edge: Edge): Flow => {
  const { clock, report } = edge
  const { maxBuffered, highWater } = edge.settings

  const { edgeDefect, slowConsumer } = kicks(edge)

  let flushList: Array<ConnectionState> = []
  const flushOne = (state: ConnectionState) => {
    const { first, rest } = state
    state.dirty = false
    state.first = undefined
    state.rest = undefined
    state.batchBytes = 0
    const socket = state.socket
    if (first === undefined || socket.destroyed) return
    const ok = socket.write(rest === undefined ? first : Buffer.concat([first, ...rest]))
    const after = socket.writableLength
    if (after > edge.peakBuffered) edge.peakBuffered = after
    if (!ok) {
      hold(state, HOLD_WRITE)
      if (state.stalledSince === 0) {
        state.stalledSince = clock.unsafeCurrentTimeMillis()
        state.onDrain ??= () => {
          state.stalledSince = 0
          release(state, HOLD_WRITE)
        }
        socket.once("drain", state.onDrain)
      }
    } else if ((state.hold & HOLD_WRITE) !== 0 && state.stalledSince === 0) {
      // held for the size of this batch only: the socket took it
      release(state, HOLD_WRITE)
    }
  }
  const flushAll = () => {
    const list = flushList
    flushList = []
    for (const state of list) {
      if (!state.dirty) continue
      try {
        flushOne(state)
      } catch (defect) {
        edgeDefect(state, defect)
      }
    }
  }
  const write = (state: ConnectionState, buf: Buffer) => {
    state.sentFrames++
    state.resume?.record(buf)
    send(state, buf)
  }
  const send = (state: ConnectionState, buf: Buffer) => {
    const socket = state.socket
    if (socket.destroyed) return
    const queued = state.batchBytes + socket.writableLength
    const total = queued + buf.length
    if (total > maxBuffered && queued !== 0) {
      return slowConsumer(
        state,
        () => `${queued} bytes queued, ${buf.length} more (maxBuffered ${maxBuffered})`
      )
    }
    state.batchBytes += buf.length
    if (!state.dirty) {
      state.dirty = true
      state.first = buf
      if (flushList.length === 0) process.nextTick(flushAll)
      flushList.push(state)
    } else if (state.rest === undefined) {
      state.rest = [buf]
    } else {
      state.rest.push(buf)
    }
    if (total > highWater) hold(state, HOLD_WRITE)
  }

  const hold = (state: ConnectionState, bit: number) => {
    state.hold |= bit
    if (!state.socketPaused && !state.socket.destroyed) {
      state.socketPaused = true
      state.socket.pause()
    }
  }
  const release = (state: ConnectionState, bit: number) => {
    if ((state.hold & bit) === 0) return
    state.hold &= ~bit
    if (state.hold !== 0 || state.socket.destroyed || state.parsing) return
    // the unfinished frame's deadline restarts: the client could not send while we did not read
    state.partialSince = 0
    if (state.decoder.buffered !== 0) {
      state.parsing = true
      try {
        parsed(state, state.decoder.resume(state.onFrame, state), clock.unsafeCurrentTimeMillis())
      } catch (defect) {
        edgeDefect(state, defect)
      } finally {
        state.parsing = false
      }
    }
    if (state.hold === 0 && state.socketPaused && !state.socket.destroyed) {
      state.socketPaused = false
      state.socket.resume()
    }
  }
  const parsed = (state: ConnectionState, violation: Frame.FrameViolation | undefined, now: number) => {
    if (violation !== undefined) {
      close(state)
      report(
        "frameViolations",
        state.info,
        "warning",
        () => `closing connection: ${violation.reason}: ${violation.detail}`
      )
      return
    }
    if (state.decoder.buffered === 0 || state.decoder.isStopped) state.partialSince = 0
    else if (state.partialSince === 0) state.partialSince = now
  }

  /** Bytes a connection sent: parsed now, or buffered while it is held. */
  const received = (state: ConnectionState, chunk: Buffer) => {
    const now = clock.unsafeCurrentTimeMillis()
    state.lastActivity = now
    if (state.hold !== 0 || state.parsing) {
      state.decoder.append(chunk)
      return
    }
    state.parsing = true
    try {
      parsed(state, state.decoder.push(chunk, state.onFrame, state), now)
    } catch (defect) {
      edgeDefect(state, defect)
    } finally {
      state.parsing = false
    }
    if (state.hold === 0 && state.socketPaused && !state.socket.destroyed) {
      state.socketPaused = false
      state.socket.resume()
    }
  }

  return { close, edgeDefect, slowConsumer, write, send, flushOne, hold, release, parsed, received }
}
