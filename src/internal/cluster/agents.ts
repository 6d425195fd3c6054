/**
 * The master's side of host agents (`hotaru join`): the nodes a master started with `--only`
 * leaves to other hosts, which agent reports each of them, and the calls forwarded to the
 * agents (restart one node, stop them all).
 *
 * An agent links to the master's rootport as `@agent:<host>` and serves `AgentService`. The
 * master asks every linked agent for its nodes when it joins and at each `/status`; it remembers
 * which agent last reported a node, so a node whose agent is gone shows `agent-lost` (with that
 * agent's host) rather than `waiting-for-agent` (no agent ever reported it).
 *
 * @internal
 */
import { Duration, Effect, Option, Schedule, type Scope, Stream } from "effect"
import type { Root } from "../../Root.js"
import { RestartFailed } from "../control/adminErrors.js"
import type { NodeState } from "../control/nodeState.js"
import { asker, type Claims } from "./agentReports.js"
import { AgentService, isAgentName } from "./agentRpc.js"

type RootService = Root["Type"]

/** What `/status` shows of a node the master leaves to an agent. */
export interface RemoteEntry {
  readonly state: NodeState
  readonly host: string | null
  readonly pid: number | null
  readonly restarts: number
  readonly uptimeMs: number | null
  readonly lastExit: string | null
}

/** The master's view of its agents. */
export interface Agents {
  /** Whether the master leaves node `name` to an agent. */
  readonly isRemote: (name: string) => boolean
  /** Each remote node as its agent reports it now (or `waiting-for-agent` / `agent-lost`). */
  readonly entries: Effect.Effect<ReadonlyMap<string, RemoteEntry>>
  /** Ask the agent running `node` to restart it. */
  readonly restart: (node: string) => Effect.Effect<void, RestartFailed>
  /** Ask every linked agent to stop its nodes (and exit); waits at most `timeout` for each. */
  readonly stopAll: (timeout: Duration.DurationInput) => Effect.Effect<void>
}

/** Track the agents linking to `root` that run the nodes in `remote`. */
export const make = (
  root: RootService,
  remote: ReadonlyArray<string>
): Effect.Effect<Agents, never, Scope.Scope> =>
  Effect.gen(function* () {
    const remoteSet = new Set(remote)
    /** The agent (link name and host) that last reported each remote node. */
    const claims: Claims = new Map()
    const linkedAgents = Effect.map(root.children, (names) => names.filter(isAgentName))

    const ask = asker(root, remoteSet, claims)

    // learn an agent's nodes as soon as it links (so its loss is known even with no /status in between)
    yield* root.changes.pipe(
      Stream.filter((e) => e._tag === "Joined" && isAgentName(e.name)),
      Stream.mapEffect(
        (e) => Effect.zipRight(Effect.log(`agent linked: ${e.name.slice("@agent:".length)}`), ask(e.name)),
        { concurrency: 8 }
      ),
      Stream.runDrain,
      Effect.forkScoped
    )
    yield* root.changes.pipe(
      Stream.filter((e) => e._tag === "Left" && isAgentName(e.name)),
      Stream.runForEach((e) =>
        Effect.logWarning(
          `agent lost: ${e.name.slice("@agent:".length)} (its nodes: ${
            [...claims]
              .filter(([, c]) => c.agent === e.name)
              .map(([n]) => n)
              .join(", ") || "none"
          })`
        )
      ),
      Effect.forkScoped
    )

    const entries = Effect.gen(function* () {
      const agents = yield* linkedAgents
      const reports = yield* Effect.forEach(
        agents,
        (agent) => Effect.map(ask(agent), (r) => [agent, r] as const),
        {
          concurrency: "unbounded"
        }
      )
      const result = new Map<string, RemoteEntry>()
      for (const name of remote) {
        const claim = claims.get(name)
        const report = reports.find(([agent]) => agent === claim?.agent)?.[1]
        const node =
          report !== undefined && Option.isSome(report)
            ? report.value.nodes.find((n) => n.name === name)
            : undefined
        if (claim !== undefined && node !== undefined) {
          result.set(name, { ...node, host: claim.host })
        } else {
          result.set(name, {
            state: claim === undefined ? "waiting-for-agent" : "agent-lost",
            host: claim?.host ?? null,
            pid: null,
            restarts: 0,
            uptimeMs: null,
            lastExit: null
          })
        }
      }
      return result
    })

    const restart = (node: string) =>
      Effect.gen(function* () {
        const agents = yield* linkedAgents
        const claim = claims.get(node)
        if (claim === undefined || !agents.includes(claim.agent)) {
          return yield* new RestartFailed({
            node,
            message:
              claim === undefined
                ? `node ${node} runs on another host and no agent has reported it (start one there: hotaru join CONFIG --only ${node})`
                : `node ${node} runs on ${claim.host}, whose agent is not linked to the master`
          })
        }
        const client = yield* root.child(claim.agent, AgentService)
        yield* client.Restart({ node }).pipe(
          Effect.timeout("60 seconds"),
          Effect.mapError(
            (e) =>
              new RestartFailed({
                node,
                message: `the agent of ${claim.host} did not restart ${node}: ${
                  e._tag === "AgentNoSuchNode" ? "it does not run it" : e.message
                }`
              })
          )
        )
        yield* Effect.log(`restarted ${node} on ${claim.host} by request`)
      })

    const stopAll = (timeout: Duration.DurationInput) =>
      Effect.gen(function* () {
        const agents = yield* linkedAgents
        yield* Effect.forEach(
          agents,
          (agent) =>
            Effect.flatMap(root.child(agent, AgentService), (client) => client.Stop()).pipe(
              // the agent answers, then stops; it is done when its link drops
              Effect.zipRight(
                Effect.repeat(linkedAgents, {
                  schedule: Schedule.spaced("200 millis"),
                  until: (linked) => !linked.includes(agent)
                })
              ),
              Effect.timeout(Duration.decode(timeout)),
              Effect.ignore
            ),
          { concurrency: "unbounded", discard: true }
        )
      })

    return { isRemote: (name) => remoteSet.has(name), entries, restart, stopAll }
  })
