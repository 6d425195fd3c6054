/**
 * The client entry bundles for a browser: esbuild (`platform: "browser"`) fails on any Node
 * built-in it would need, and no input of the bundle is a Node-only module (TCP, `ws`).
 */
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Esbuild from "esbuild"

const root = Path.resolve(import.meta.dirname, "..")

/** The inputs of a browser bundle of `entry`, and those of them that are Node-only. */
const browserBundle = (entry: string) =>
  Effect.map(
    Effect.promise(() =>
      Esbuild.build({
        entryPoints: [Path.join(root, entry)],
        bundle: true,
        platform: "browser",
        format: "esm",
        write: false,
        metafile: true,
        logLevel: "silent"
      })
    ),
    (result) => {
      const inputs = Object.keys(result.metafile.inputs)
      const nodeOnly = inputs.filter(
        (i) =>
          !i.startsWith("(disabled):") &&
          (/^(node:|net$|tls$|buffer$)/.test(i) ||
            i.endsWith("client/tcpWire.ts") ||
            /node_modules\/ws\//.test(i))
      )
      return { inputs, nodeOnly }
    }
  )

describe("browser bundle", () => {
  it.live("bundles src/Client.ts for the browser without Node built-ins", () =>
    Effect.gen(function* () {
      const { inputs, nodeOnly } = yield* browserBundle("src/Client.ts")
      expect(inputs.some((i) => i.endsWith("src/internal/client/tcpWireBrowser.ts"))).toBe(true)
      expect(nodeOnly).toEqual([])
    })
  )

  it.live(
    "bundles the package's client entry (hotaru-rt/client: the client, NetCommand, the wire errors)",
    () =>
      Effect.gen(function* () {
        const { inputs, nodeOnly } = yield* browserBundle("src/sdk.ts")
        expect(inputs.some((i) => i.endsWith("src/NetCommand.ts"))).toBe(true)
        expect(nodeOnly).toEqual([])
      })
  )

  it.live("bundles the command definitions (src/NetCommand.ts) for the browser without Node built-ins", () =>
    Effect.gen(function* () {
      const { inputs, nodeOnly } = yield* browserBundle("src/NetCommand.ts")
      expect(inputs.some((i) => i.endsWith("src/NetCommand.ts"))).toBe(true)
      expect(nodeOnly).toEqual([])
    })
  )
})
