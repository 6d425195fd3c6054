/**
 * The inter-node RPC fast path's behaviour checks (headers, discard, interruption reaching the
 * handler, typed failures, defects, transforming schemas, streams, 500 concurrent calls), on the
 * memory and TCP transports, in their own process: `test/support/rpcFastpathChecks.ts` prints one
 * line per check and exits non-zero on the first failure.
 */

import { execFile } from "node:child_process"
import * as Path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"

const run = promisify(execFile)

describe("RPC fast path", () => {
  it("passes every behaviour check on both transports", { timeout: 60_000 }, async () => {
    const script = Path.join(__dirname, "support/rpcFastpathChecks.ts")
    const { stdout } = await run(process.execPath, ["--import", "tsx", script], { timeout: 50_000 })
    const lines = stdout.trim().split("\n")
    expect(lines.filter((l) => l.startsWith("FAIL"))).toEqual([])
    expect(lines.filter((l) => l.startsWith("ok")).length).toBe(20)
  })
})
