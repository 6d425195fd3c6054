#!/usr/bin/env node
// The hotaru CLI. Installed, it runs the built `dist/Cli.js`; users' TypeScript app modules are
// imported as they are (Bun and Deno natively; on Node hotaru registers tsx the first time one
// is imported). In a checkout of the repository (the sources are beside it) it runs the sources
// (Node: through tsx, with the repository's tsconfig `paths` mapping `hotaru-rt` to `src/`), so
// nothing needs building there — except on Deno, which runs the built output (`npm run build`).
import { existsSync } from "node:fs"

const here = (path) => new URL(path, import.meta.url)
const checkout = existsSync(here("../src/Cli.ts")) && existsSync(here("../tsconfig.json"))
const isBun = "Bun" in globalThis
const isDeno = "Deno" in globalThis
// HOTARU_RUN_DIST=1 (the test suite sets it for the processes it starts): on Node, a checkout runs
// its built dist/ as an installed package does, apps' `hotaru-rt` resolving to dist/ through the
// package's own exports (tsx told to use tsconfig.build.json, which maps no paths): half the
// start-up CPU of tsx over the sources
const fromDist = checkout && !isBun && !isDeno && process.env.HOTARU_RUN_DIST === "1"

const fromSources = checkout && !fromDist

let cli
if (fromDist) process.env.TSX_TSCONFIG_PATH ??= here("../tsconfig.build.json").pathname
if (fromSources && (isBun || isDeno)) {
  cli = await import("../src/Cli.ts")
} else if (fromSources) {
  const { register } = await import("tsx/esm/api")
  register({ tsconfig: here("../tsconfig.json").pathname })
  // tell hotaru tsx is in (see src/internal/config/typescript.ts)
  globalThis[Symbol.for("hotaru-rt/tsx-registered")] = true
  cli = await import("../src/Cli.ts")
} else {
  if (!existsSync(here("../dist/Cli.js"))) {
    process.stderr.write("hotaru: dist/ is missing; build it first: npm run build\n")
    process.exit(1)
  }
  cli = await import("../dist/Cli.js")
}
cli.main(process.argv)
