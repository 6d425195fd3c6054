/**
 * The master's side of `Players`: a push to a player goes to every linked node at once, and the
 * one whose client edge holds the player delivers it (a player is bound on one node at most: a
 * login kicks it elsewhere); a kick goes to every node but the caller.
 *
 * @internal
 */
import { type Context, Effect, Option } from "effect"
import type { Root } from "../../Root.js"
import { isAgentName } from "../cluster/agentRpc.js"
import { Caller } from "../rpc/caller.js"
import { AdminService } from "./adminRpc.js"
import { PlayerOffline, PlayersService } from "./playersRpc.js"

/** The nodes linked to the master now (host agents are links too, but hold no players). */
const nodesOf = (root: Context.Tag.Service<Root>) =>
  Effect.map(root.children, (all) => all.filter((n) => !isAgentName(n)))

/**
 * Ask every node in `names` with `ask`; the names of those that answered true. A node that is
 * down or fails answers false: it holds no player now.
 */
const askAll = (names: ReadonlyArray<string>, ask: (name: string) => Effect.Effect<boolean, unknown>) =>
  Effect.map(
    Effect.forEach(
      names,
      (name) =>
        ask(name).pipe(
          Effect.map((yes) => (yes ? Option.some(name) : Option.none())),
          Effect.orElseSucceed(() => Option.none<string>())
        ),
      { concurrency: "unbounded" }
    ),
    (answers) => answers.flatMap(Option.toArray)
  )

/** The handlers of `PlayersService` over the master's `root`. */
export const handlers = (root: Context.Tag.Service<Root>) =>
  PlayersService.toLayer({
    Push: (push) =>
      Effect.gen(function* () {
        const delivered = yield* askAll(yield* nodesOf(root), (name) =>
          Effect.flatMap(root.child(name, AdminService), (node) => node.PushPlayer(push))
        )
        const node = delivered[0]
        return node === undefined ? yield* new PlayerOffline({ uid: push.uid }) : { node }
      }),
    PushChannelElsewhere: (push) =>
      Effect.gen(function* () {
        const caller = yield* Caller
        const others = (yield* nodesOf(root)).filter((n) => n !== caller.name)
        const counts = yield* Effect.forEach(
          others,
          (name) =>
            Effect.flatMap(root.child(name, AdminService), (node) => node.PushChannel(push)).pipe(
              Effect.orElseSucceed(() => 0)
            ),
          { concurrency: "unbounded" }
        )
        return counts.reduce((a, b) => a + b, 0)
      }),
    KickElsewhere: ({ uid }) =>
      Effect.gen(function* () {
        const caller = yield* Caller
        const others = (yield* nodesOf(root)).filter((n) => n !== caller.name)
        return yield* askAll(others, (name) =>
          Effect.flatMap(root.child(name, AdminService), (node) => node.KickPlayer({ uid }))
        )
      })
  })
