import { Effect } from "effect"
import { Root } from "hotaru-rt"
import { Game1Service, GateService } from "./protocol.js"

const handlers = GateService.toLayer(
  Effect.gen(function* () {
    // the client of child game1, built once with the handlers
    const game1 = yield* Root.client("game1", Game1Service)
    return {
      gateHandle1: ({ data }) =>
        Effect.flatMap(Root.Caller, (caller) =>
          Effect.as(Effect.log(`gateHandle: ${data} (from ${caller.name})`), "gateHandle Completed")
        ),
      gateHandle2: ({ data }) =>
        Effect.zipRight(Effect.log(`gateHandle2: ${data} forward to game1:`), game1.game1Handle({ data }))
    }
  })
)

/** gate: serves GateService to its children, forwards gateHandle2 to child game1. */
export default Root.serve(GateService, handlers)
