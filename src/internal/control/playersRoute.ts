/**
 * The master's side of `Players`: a push to a player goes to every linked node at once, and the
 * one whose client edge holds the player delivers it (a player is bound on one node at most: a
 * login kicks it elsewhere); a kick goes to every node but the caller. The sessions of stopped
 * fronts are held here (`HeldSessions`): a take finds them first, a push to a held player (or to
 * a channel it is in) is kept for its resume (`Delivered` says `master`; the channel's members
 * list `master` as their node), a kick ends it.
 *
 * @internal
 */
import type { RpcClient, RpcGroup } from "@effect/rpc"
import { type Context, Effect, Either, Layer, Option } from "effect"
import type { Root } from "../../Root.js"
import { isAgentName } from "../cluster/agentRpc.js"
import { MAX_MEMBERS_LISTED } from "../edge/channels.js"
import type { SessionTake } from "../edge/handoverWire.js"
import { ResumeRefused } from "../edge/resumeWire.js"
import { Caller } from "../rpc/caller.js"
import type { NodeUnavailable } from "../rpc/wireErrors.js"
import { AdminService } from "./adminRpc.js"
import * as HeldSessions from "./heldSessions.js"
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

/** The handlers of `PlayersService` over the master's `root` (the held sessions live in its scope). */
export const handlers = (root: Context.Tag.Service<Root>) =>
  Layer.unwrapScoped(Effect.map(HeldSessions.scoped, (held) => handlersWith(root, held)))

const handlersWith = (root: Context.Tag.Service<Root>, held: HeldSessions.HeldSessions) => {
  /** The uid is the caller's now (one login per player): kicked on every other node. */
  const kickElsewhere = (caller: string, uid: string) =>
    askNodes(root, caller, (n) => n.KickPlayer({ uid }), false)
  /** A session held here, handed over (or refused); none when not held. */
  const fromHeld = (request: SessionTake) =>
    Option.map(held.take(request), Either.match({ onLeft: Effect.fail, onRight: Effect.succeed }))
  /** Take the session from front `node` (its client reconnected to `caller`). */
  const fromNode = (caller: string, node: string, request: SessionTake) =>
    Effect.gen(function* () {
      const unknown = new ResumeRefused({ reason: "Unknown" })
      // only a linked node other than the caller: a token naming the master, an agent, the caller
      // itself or no node costs no call
      if (node === caller || isAgentName(node) || !(yield* root.children).includes(node)) {
        return yield* unknown
      }
      return yield* Effect.flatMap(root.child(node, AdminService), (n) => n.TakeSession(request)).pipe(
        Effect.timeoutFail({ duration: TAKE_TIMEOUT, onTimeout: () => unknown }),
        Effect.catchAll((e) => {
          // the front may have handed it here meanwhile (its drain's end)
          const late = fromHeld(request)
          if (Option.isSome(late)) return late.value
          return Effect.fail(e._tag === "ResumeRefused" ? e : unknown)
        })
      )
    })
  return PlayersService.toLayer({
    Push: (push) =>
      Effect.gen(function* () {
        const [node] = yes(yield* askNodes(root, undefined, (n) => n.PushPlayer(push), false))
        if (node !== undefined) return { node }
        if (held.push(push.uid, push.command, push.body)) return { node: "master" }
        return yield* new PlayerOffline({ uid: push.uid })
      }),
    PushChannelElsewhere: (push) =>
      Effect.gen(function* () {
        const caller = yield* Caller
        const counts = yield* askNodes(root, caller.name, (n) => n.PushChannel(push), 0)
        // held members keep it for their resume
        const kept = held.pushChannel(push.channel, push.command, push.body)
        return counts.reduce((sum, [, n]) => sum + n, kept)
      }),
    ChannelMembersElsewhere: ({ channel }) =>
      Effect.gen(function* () {
        const caller = yield* Caller
        const none = { count: 0, uids: [] }
        const answers = yield* askNodes(root, caller.name, (n) => n.ChannelMembers({ channel }), none)
        const nodes = answers.filter(([, m]) => m.count > 0).map(([node, m]) => ({ node, ...m }))
        const holding = held.members(channel, MAX_MEMBERS_LISTED)
        return holding.count === 0 ? nodes : [...nodes, { node: "master", ...holding }]
      }),
    TakeSession: ({ node, ...request }) =>
      Effect.gen(function* () {
        const caller = yield* Caller
        const here = fromHeld(request)
        const handover = yield* Option.isSome(here) ? here.value : fromNode(caller.name, node, request)
        yield* kickElsewhere(caller.name, request.uid)
        return handover
      }),
    KickElsewhere: ({ uid }) =>
      Effect.gen(function* () {
        const caller = yield* Caller
        held.drop(uid)
        return yes(yield* kickElsewhere(caller.name, uid))
      }),
    HoldSessions: ({ sessions }) =>
      Effect.gen(function* () {
        const caller = yield* Caller
        const kept = held.hold(caller.name, sessions)
        const { sessions: n, bytes } = held.size()
        yield* Effect.log(
          `holding ${kept} of ${sessions.length} sessions of stopping node ${caller.name} for resume (${n} held, ${bytes} bytes)`
        )
        return kept
      })
  })
}
