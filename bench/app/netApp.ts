/**
 * The bench app's `net` node: its handlers are ordinary hotaru app code.
 */
import { Effect, Layer } from "effect"
import { NetServer, Remote } from "hotaru-rt"
import { BACKEND, Echo, EchoRpc, Fanout, Forward, Push } from "./protocol.js"

/** Echo and fan-out: what every bench `net` node answers. */
export const App = Layer.mergeAll(
  NetServer.handle(Echo, (body) => Effect.succeed(body)),
  NetServer.handle(Fanout, (body) =>
    Effect.flatMap(NetServer.NetServer, (net) => net.broadcast(Push, body)).pipe(Effect.asVoid)
  )
)

/** Forward: the body goes to the parent node `backend` over the node link and its echo comes back. */
export const ForwardApp = Layer.unwrapEffect(
  Effect.gen(function* () {
    const remote = yield* Remote.Remote
    const backend = yield* remote.parent(BACKEND, EchoRpc)
    return NetServer.handle(Forward, (body) => backend.echo({ body }))
  })
)
