/**
 * The chaos suite's entity round (`npm run chaos -- --backend entities`, `bench/chaos/entities.ts`)
 * in `npm test`: the arena (master + front + 3 runners, real processes, its own MariaDB database),
 * persisted `say`s to 48 rooms, one runner SIGKILLed, one SIGSTOPped past the shard lock expiry,
 * one SIGSTOPped with its MariaDB connections cut (its shards move while it sleeps). Every
 * acknowledged `say` is stored exactly once under its seq, seqs are 1..n per room, nothing
 * phantom, every room answers again within 30 s.
 */
import { describe, expect, it } from "@effect/vitest"
import { entityRound, violations } from "../bench/chaos/entities.js"
import { needs } from "./support/services.js"

describe("chaos: entity round (arena on MariaDB)", () => {
  needs("mariadb")
  it("SIGKILL, SIGSTOP and a zombie with cut connections: acknowledged says stored once, seq continuous", {
    // above the round's bounded waits (boot 60 s, restart 40 s, recovery 30 s, settle 20 s)
    timeout: 180_000
  }, async () => {
    const result = await entityRound({ seed: 1, progress: (line) => console.log(line) })
    console.log(
      `entities: ${result.acked} acknowledged, ${result.unknown} unanswered, ${result.stored} stored, ` +
        `recovery ${result.recoveryMs} ms, round ${result.elapsedMs} ms`
    )
    expect(result.notes.slice(0, 20)).toEqual([])
    expect(violations(result)).toBe(0)
    expect(result.acked).toBeGreaterThan(0)
    // the cut runner's shards really moved while it slept (the zombie case was exercised)
    expect(result.stops[1]!.moved).toBeGreaterThan(0)
  })
})
