/**
 * The master's side of `Players`: a push to a player goes to every linked node at once, and the
 * one whose client edge holds the player delivers it (a player is bound on one node at most: a
 * login kicks it elsewhere); a kick goes to every node but the caller.
 *
 * @internal
 */
import type { RpcClient, RpcGroup } from "@effect/rpc"
import { type Context, Effect } from "effect"
import type { Root } from "../../Root.js"
import { isAgentName } from "../cluster/agentRpc.js"
import { ResumeRefused } from "../edge/resumeWire.js"
import { Caller } from "../rpc/caller.js"
import type { NodeUnavailable } from "../rpc/wireErrors.js"
import { AdminService } from "./adminRpc.js"
import { PlayerOffline, PlayersService } from "./playersRpc.js"

type Node = RpcClient.RpcClient<RpcGroup.Rpcs<typeof AdminService>, NodeUnavailable>

/**
 * Ask each node linked to the master now (but `except`) with `ask`, all at once. A node that is
 * down or fails answers `otherwise`: it holds no player or member now. Host agents are links
 * too, but hold none.
 */
const askNodes = <A>(
  root: Context.Tag.Service<Root>,
  except: string | undefined,
  ask: (node: Node) => Effect.Effect<A, unknown>,
  otherwise: A
): Effect.Effect<ReadonlyArray<readonly [string, A]>> =>
  Effect.flatMap(root.children, (all) =>
    Effect.forEach(
      all.filter((n) => !isAgentName(n) && n !== except),
      (name) =>
        Effect.flatMap(root.child(name, AdminService), ask).pipe(
          Effect.orElseSucceed(() => otherwise),
          Effect.map((answer) => [name, answer] as const)
        ),
      { concurrency: "unbounded" }
    )
  )

/** The names of the nodes that answered true. */
const yes = (answers: ReadonlyArray<readonly [string, boolean]>) =>
  answers.filter(([, a]) => a).map(([n]) => n)

/** How long the master waits for a front to hand a session over (it waits for its handlers, 2 s at most). */
const TAKE_TIMEOUT = "4 seconds"

/** The handlers of `PlayersService` over the master's `root`. */
export const handlers = (root: Context.Tag.Service<Root>) =>
  PlayersService.toLayer({
    Push: (push) =>
      Effect.gen(function* () {
        const [node] = yes(yield* askNodes(root, undefined, (n) => n.PushPlayer(push), false))
        return node === undefined ? yield* new PlayerOffline({ uid: push.uid }) : { node }
      }),
    PushChannelElsewhere: (push) =>
      Effect.gen(function* () {
        const caller = yield* Caller
        const counts = yield* askNodes(root, caller.name, (n) => n.PushChannel(push), 0)
        return counts.reduce((sum, [, n]) => sum + n, 0)
      }),
    TakeSession: ({ node, ...request }) =>
      Effect.gen(function* () {
        const caller = yield* Caller
        const unknown = new ResumeRefused({ reason: "Unknown" })
        // only a linked node other than the caller: a token naming the master, an agent, the caller
        // itself or no node costs no call
        if (node === caller.name || isAgentName(node) || !(yield* root.children).includes(node)) {
          return yield* unknown
        }
        const handover = yield* Effect.flatMap(root.child(node, AdminService), (n) =>
          n.TakeSession(request)
        ).pipe(
          Effect.timeoutFail({ duration: TAKE_TIMEOUT, onTimeout: () => unknown }),
          Effect.catchAll((e) => Effect.fail(e._tag === "ResumeRefused" ? e : unknown))
        )
        // one login per player: the uid is the caller's now
        yield* askNodes(root, caller.name, (n) => n.KickPlayer({ uid: request.uid }), false)
        return handover
      }),
    KickElsewhere: ({ uid }) =>
      Effect.gen(function* () {
        const caller = yield* Caller
        return yes(yield* askNodes(root, caller.name, (n) => n.KickPlayer({ uid }), false))
      })
  })
