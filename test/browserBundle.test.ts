/**
 * The client entry bundles for a browser: esbuild (`platform: "browser"`) fails on any Node
 * built-in it would need, and no input of the bundle is a Node-only module (TCP, `ws`).
 */
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Esbuild from "esbuild"

const root = Path.resolve(import.meta.dirname, "..")

describe("browser bundle", () => {
  it.live("bundles src/Client.ts for the browser without Node built-ins", () =>
    Effect.gen(function* () {
      const result = yield* Effect.promise(() =>
        Esbuild.build({
          entryPoints: [Path.join(root, "src/Client.ts")],
          bundle: true,
          platform: "browser",
          format: "esm",
          write: false,
          metafile: true,
          logLevel: "silent"
        })
      )
      const inputs = Object.keys(result.metafile.inputs)
      expect(inputs.some((i) => i.endsWith("src/internal/client/tcpWireBrowser.ts"))).toBe(true)
      const forbidden = inputs.filter(
        (i) =>
          !i.startsWith("(disabled):") &&
          (/^(node:|net$|tls$|buffer$)/.test(i) ||
            i.endsWith("client/tcpWire.ts") ||
            /node_modules\/ws\//.test(i))
      )
      expect(forbidden).toEqual([])
    })
  )

  it.live("bundles the command definitions (src/NetCommand.ts) for the browser without Node built-ins", () =>
    Effect.gen(function* () {
      const result = yield* Effect.promise(() =>
        Esbuild.build({
          entryPoints: [Path.join(root, "src/NetCommand.ts")],
          bundle: true,
          platform: "browser",
          format: "esm",
          write: false,
          metafile: true,
          logLevel: "silent"
        })
      )
      const inputs = Object.keys(result.metafile.inputs)
      expect(inputs.some((i) => i.endsWith("src/NetCommand.ts"))).toBe(true)
      expect(
        inputs.filter((i) => /^(node:|net$|tls$|buffer$)/.test(i) || /node_modules\/ws\//.test(i))
      ).toEqual([])
    })
  )
})
