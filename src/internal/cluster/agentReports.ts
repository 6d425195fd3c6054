/**
 * How the master reads its host agents' reports: each agent's answer to `Status`, remembered as
 * its claims (which agent last reported each node the master leaves to other hosts), with a
 * misconfigured report (a node the master runs itself, or one two agents run) logged once.
 *
 * @internal
 */
import { Effect, Option } from "effect"
import type { Root } from "../../Root.js"
import { AgentService, type AgentStatus } from "./agentRpc.js"

/** The agent (link name and host) that last reported each remote node. */
export type Claims = Map<string, { readonly agent: string; readonly host: string }>

/**
 * The `ask` of the agents of `root`: one agent's report, remembered in `claims` (for the nodes
 * of `remote`); none if it does not answer in time.
 */
export const asker = (
  root: Root["Type"],
  remote: ReadonlySet<string>,
  claims: Claims
): ((agent: string) => Effect.Effect<Option.Option<AgentStatus>>) => {
  /** Log a misconfiguration once per agent and node (each /status asks every agent again). */
  const warned = new Set<string>()
  const once = (key: string, message: string) =>
    Effect.suspend(() => {
      if (warned.has(key) || warned.size >= 1024) return Effect.void
      warned.add(key)
      return Effect.logError(message)
    })

  /** One agent's report, remembered as its claims; none if it does not answer in time. */
  return (agent: string): Effect.Effect<Option.Option<AgentStatus>> =>
    Effect.flatMap(root.child(agent, AgentService), (client) => client.Status()).pipe(
      Effect.timeout("2 seconds"),
      Effect.option,
      Effect.tap(
        Option.match({
          onNone: () => Effect.void,
          onSome: (report) => {
            // a node this agent reported before and no longer runs is nobody's now
            for (const [name, claim] of claims) {
              if (claim.agent === agent && !report.nodes.some((n) => n.name === name)) claims.delete(name)
            }
            return Effect.forEach(report.nodes, (node) => {
              if (!remote.has(node.name)) {
                return once(
                  `${agent}/${node.name}`,
                  `the agent of ${report.host} runs node ${node.name}, which this master runs itself or the config has not: stop it there`
                )
              }
              const held = claims.get(node.name)
              if (held !== undefined && held.agent !== agent) {
                return Effect.flatMap(root.children, (children) =>
                  children.includes(held.agent)
                    ? once(
                        `${agent}/${node.name}`,
                        `node ${node.name} is run by the agents of both ${held.host} and ${report.host}; ${held.host} keeps it`
                      )
                    : Effect.sync(() => claims.set(node.name, { agent, host: report.host }))
                )
              }
              return Effect.sync(() => claims.set(node.name, { agent, host: report.host }))
            })
          }
        })
      )
    )
}
