/**
 * `Log.formatJson`: one JSON object per record, trace ids inside a span, the other annotations
 * under `annotations`.
 */

import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, Tracer } from "effect"
import * as Log from "../src/Log.js"

const capture = (lines: Array<string>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make((o) => void lines.push(Log.formatJson(o)))
  )

describe("Log.formatJson", () => {
  it.live("timestamp, level, node, fiber, message, annotations; traceId and spanId inside a span", () => {
    const lines: Array<string> = []
    return Effect.gen(function* () {
      yield* Effect.logInfo("outside", 42).pipe(Effect.annotateLogs({ node: "gate", conn: 7, player: 'p"1' }))
      yield* Effect.logWarning("inside").pipe(Effect.annotateLogs("node", "net"), Effect.withSpan("handle"))
      yield* Effect.logError("failed", new Error("boom"))
      const [outside, inside, failed] = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(lines.every((l) => !l.includes("\n"))).toBe(true)
      expect(outside).toMatchObject({
        level: "INFO",
        node: "gate",
        message: "outside 42",
        annotations: { conn: 7, player: 'p"1' }
      })
      expect(Date.parse(String(outside!.timestamp))).not.toBeNaN()
      expect(outside!.fiber).toMatch(/^#\d+$/)
      expect(outside).not.toHaveProperty("traceId")
      expect(inside).toMatchObject({ level: "WARN", node: "net", message: "inside" })
      expect(inside!.traceId).toMatch(/^[0-9a-f]+$/)
      expect(inside!.spanId).toMatch(/^[0-9a-f]+$/)
      expect(failed).toMatchObject({ level: "ERROR", message: "failed boom" })
    }).pipe(Effect.provide(capture(lines)))
  })
})

describe("Log.formatLine", () => {
  it.live(
    "a line logged inside a sampled span ends with trace=<its trace id>; outside or unsampled, none",
    () => {
      const lines: Array<string> = []
      const json: Array<string> = []
      const both = Logger.replace(
        Logger.defaultLogger,
        Logger.make((o) => {
          lines.push(Log.formatLine(o))
          json.push(Log.formatJson(o))
        })
      )
      return Effect.gen(function* () {
        yield* Effect.logInfo("outside").pipe(Effect.annotateLogs({ node: "gate", conn: 3 }))
        yield* Effect.logInfo("inside").pipe(Effect.annotateLogs("node", "net"), Effect.withSpan("handle"))
        yield* Effect.logInfo("unsampled").pipe(
          Effect.withParentSpan(
            Tracer.externalSpan({
              traceId: `${"0".repeat(31)}1`,
              spanId: `${"0".repeat(15)}1`,
              sampled: false
            })
          )
        )
        const [outside, inside, unsampled] = lines
        const traceId = (JSON.parse(json[1]!) as { traceId: string }).traceId
        expect(outside).toMatch(/ INFO {2}\[gate#3\] outside$/)
        expect(inside).toMatch(new RegExp(` INFO  \\[net\\] inside trace=${traceId}$`))
        expect(unsampled).not.toContain("trace=")
      }).pipe(Effect.provide(both))
    }
  )
})
