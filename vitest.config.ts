import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = (file: string) => fileURLToPath(new URL(`./src/${file}`, import.meta.url))

/**
 * The process tests: each starts the CLI and its node processes, or runs the demo on Bun and
 * Deno. They run one file at a time (two of them at once on a small machine starve each other into
 * timeouts), beside the unit files. Five that also start processes but wait on nothing tight
 * (their bounds are minutes: npm install, tsc, a bench run, a demo's boot) are unit files:
 * test/init, test/consumer, test/bench-smoke, test/master.e2e.traces and test/runtimes. So both
 * pools carry about half the suite (with them here the process pool alone was the suite's length,
 * and the unit pool idle for its last fifth).
 */
const processFiles = [
  "test/master.e2e.test.ts",
  "test/master.e2e.metrics.test.ts",
  "test/dashboard.browser.test.ts",
  "test/hosts.e2e.test.ts",
  "test/players.e2e.test.ts",
  "test/resumeFronts.e2e.test.ts",
  "test/resumeDrain.e2e.test.ts",
  "test/resumeHeld.e2e.test.ts",
  "test/resumeHoldFailed.e2e.test.ts",
  // spawns node processes with the orphan guard; its SIGTERM test timed out once in the shared
  // unit fork (not seen isolated): it runs isolated here
  "test/process.test.ts",
  "test/hostile/linksProcess.test.ts",
  "test/chaos-smoke.test.ts",
  "test/chaos-entities.test.ts",
  "examples/arena/arena.test.ts",
  "examples/accounts/accounts.test.ts",
  "examples/browser/browser.test.ts"
]

export default defineConfig({
  // examples and fixtures import the package by its name: in the repository that is the sources
  // (as tsconfig.json `paths` says), not the built `dist/`
  resolve: {
    alias: [
      { find: /^hotaru-rt$/, replacement: src("index.ts") },
      { find: /^hotaru-rt\/testing$/, replacement: src("testing.ts") },
      { find: /^hotaru-rt\/client$/, replacement: src("sdk.ts") }
    ]
  },
  test: {
    // the processes tests start run the built dist/ (half tsx's start-up CPU over the sources),
    // rebuilt first when a source is newer
    env: { HOTARU_RUN_DIST: "1" },
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // vitest 3.2 shares one pool of each kind between the projects, sized here (a project's own
    // `fileParallelism`/`maxWorkers` does not limit it): so the unit files take the forks pool,
    // one at a time, and the process files the threads pool, one at a time, both pools at once
    // (two unit forks beside a process file oversubscribe a 2-core machine: CI timed out on it)
    poolOptions: {
      // one fork runs every unit file, its modules loaded once (isolated, each file paid ~2 s of
      // start-up and import: 170 s of a CI run). A unit file must not leave state behind (env,
      // process handlers, module-level values): the next file runs in the same process.
      // (The pool reads this here: a project's own `isolate` does not reach the shared pool.)
      forks: { maxForks: 1, minForks: 1, isolate: false },
      // the process files too share one thread's modules (isolated, each paid ~3 s of collect:
      // importing the sources it talks to): they start processes and leave no state behind
      threads: { maxThreads: 1, minThreads: 1, isolate: false }
    },
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
          exclude: processFiles,
          pool: "forks"
        }
      },
      {
        extends: true,
        test: {
          name: "process",
          include: processFiles,
          // the test spawns its processes; its own worker only waits on them
          pool: "threads"
        }
      }
    ]
  }
})
