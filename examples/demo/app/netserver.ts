import { Effect, Layer } from "effect"
import { NetServer, Remote } from "hotaru-rt"
import { GateService, NetHandle100, NetHandle200, NetHandle300 } from "./protocol.js"

const gate = Effect.flatMap(Remote.Remote, (remote) => remote.parent("gate", GateService))

/** net: the client edge; 100 answers itself, 200 and 300 go to gate. */
export default Layer.mergeAll(
  NetServer.handle(NetHandle100, (data) =>
    Effect.as(Effect.log(`netHandle_100: ${data}`), "netHandle_100 completed")
  ),
  NetServer.handle(NetHandle200, (data) =>
    Effect.log(`netHandle_200: ${data} forward to gate`).pipe(
      Effect.zipRight(gate),
      Effect.flatMap((g) => g.gateHandle1({ data }))
    )
  ),
  NetServer.handle(NetHandle300, (data) =>
    Effect.log(`netHandle_300: ${data} forward to gate`).pipe(
      Effect.zipRight(gate),
      Effect.flatMap((g) => g.gateHandle2({ data }))
    )
  )
)
