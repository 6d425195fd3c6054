import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = (file: string) => fileURLToPath(new URL(`./src/${file}`, import.meta.url))

export default defineConfig({
  // examples and fixtures import the package by its name: in the repository that is the sources
  // (as tsconfig.json `paths` says), not the built `dist/`
  resolve: {
    alias: [
      { find: /^hotaru-rt$/, replacement: src("index.ts") },
      { find: /^hotaru-rt\/testing$/, replacement: src("testing.ts") },
      { find: /^hotaru-rt\/client$/, replacement: src("Client.ts") }
    ]
  },
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks"
  }
})
