import { Effect, Layer } from "effect"
import { NetServer, Remote } from "hotaru-rt"
import { GateService, NetHandle100, NetHandle200, NetHandle300 } from "./protocol.js"

/** The client of parent gate's GateService: a service, built once by its layer. */
class Gate extends Remote.ParentClient<Gate>()("demo/Gate", "gate", GateService) {}

/** net: the client edge; 100 answers itself, 200 and 300 go to gate. */
export default Layer.mergeAll(
  NetServer.handle(NetHandle100, (data) =>
    Effect.as(Effect.log(`netHandle_100: ${data}`), "netHandle_100 completed")
  ),
  NetServer.handle(NetHandle200, (data) =>
    Effect.gen(function* () {
      yield* Effect.log(`netHandle_200: ${data} forward to gate`)
      const gate = yield* Gate
      return yield* gate.gateHandle1({ data })
    })
  ),
  NetServer.handle(NetHandle300, (data) =>
    Effect.gen(function* () {
      yield* Effect.log(`netHandle_300: ${data} forward to gate`)
      const gate = yield* Gate
      return yield* gate.gateHandle2({ data })
    })
  )
).pipe(Layer.provide(Gate.layer))
