import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { NetHandle100, NetHandle200, NetHandle300 } from "../examples/demo/app/protocol.js"
import * as TestCluster from "../src/TestCluster.js"

const config = new URL("../examples/demo/config.json", import.meta.url).pathname

describe.each(["memory", "tcp"] as const)("the seed's demo on the %s transport", (transport) => {
  const run = transport === "memory" ? it.scoped : it.scopedLive
  run("net -> gate -> game1 and back for commands 100, 200, 300", () =>
    Effect.gen(function* () {
      const cluster = yield* TestCluster.make({ config, transport })
      yield* cluster.awaitLinks
      const client = yield* cluster.client("net")
      expect(yield* client.call(NetHandle100, "msgdata")).toBe("netHandle_100 completed")
      expect(yield* client.call(NetHandle200, "msgdata")).toBe("gateHandle Completed")
      expect(yield* client.call(NetHandle300, "msgdata")).toBe("game1Handle completed")
    })
  )
})
