/**
 * Real headless Chromium for browser-facing tests: Debian's `chromium` (installed by `.ci/run`)
 * driven by `playwright-core`. A scoped resource: the browser closes with the test's scope. A
 * machine without chromium fails the test that needs it, naming the missing binary.
 */
import * as Fs from "node:fs"
import { Effect } from "effect"
import { type Browser, chromium } from "playwright-core"

/** Where Debian puts chromium (`CHROMIUM_PATH` overrides it). */
export const chromiumPath = (): string => process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

/** A headless Chromium, closed with the scope. */
export const launch: Effect.Effect<Browser, Error, import("effect").Scope.Scope> = Effect.acquireRelease(
  Effect.tryPromise({
    try: () => {
      const executablePath = chromiumPath()
      if (!Fs.existsSync(executablePath)) {
        throw new Error(`no chromium at ${executablePath}: install Debian's chromium (.ci/run does)`)
      }
      return chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] })
    },
    catch: (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
  }),
  (browser) => Effect.promise(() => browser.close())
)
