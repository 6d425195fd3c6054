import { Effect } from "effect"
import { Remote } from "hotaru-rt"
import { Game1Service } from "./protocol.js"

/** game1: offers game1Handle to its parent gate. */
export default Remote.serve(
  "gate",
  Game1Service,
  Game1Service.toLayer({
    game1Handle: ({ data }) => Effect.as(Effect.log(`game1Handle: ${data}`), "game1Handle completed")
  })
)
