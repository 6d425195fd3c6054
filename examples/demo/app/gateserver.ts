import { Effect } from "effect"
import { Root } from "hotaru-rt"
import { Game1Service, GateService } from "./protocol.js"

const handlers = GateService.toLayer(
  Effect.gen(function* () {
    const root = yield* Root.Root
    const game1 = yield* root.child("game1", Game1Service)
    return {
      gateHandle1: ({ data }) => Effect.as(Effect.log(`gateHandle: ${data}`), "gateHandle Completed"),
      gateHandle2: ({ data }) =>
        Effect.zipRight(Effect.log(`gateHandle2: ${data} forward to game1:`), game1.game1Handle({ data }))
    }
  })
)

/** gate: serves GateService to its children, forwards gateHandle2 to child game1. */
export default Root.Root.serve(GateService, handlers)
