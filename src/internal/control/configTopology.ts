/**
 * What the shape of a config means to a running master: the order of a clean stop, and the
 * changes a reload may not make. Re-exported by the public `Master` module.
 *
 * @internal
 */
import type * as HotaruConfig from "../../HotaruConfig.js"

/**
 * The order of a clean stop: client-facing nodes (netport, webport) first, then children before
 * their parents.
 *
 * @since 0.1.0
 * @category utils
 */
export const stopOrder = (config: HotaruConfig.HotaruConfig): ReadonlyArray<string> => {
  const names = Object.keys(config.servers)
  const depth = new Map<string, number>()
  const depthOf = (name: string, seen: ReadonlySet<string>): number => {
    const known = depth.get(name)
    if (known !== undefined) return known
    const parents = (config.servers[name]?.remoteport ?? [])
      .map((l) => l.rootname)
      .filter((p) => !seen.has(p))
    const d =
      parents.length === 0 ? 0 : 1 + Math.max(...parents.map((p) => depthOf(p, new Set([...seen, name]))))
    depth.set(name, d)
    return d
  }
  const facing = (name: string) =>
    config.servers[name]?.netport !== undefined || config.servers[name]?.webport !== undefined ? 1 : 0
  return [...names].sort((a, b) => facing(b) - facing(a) || depthOf(b, new Set()) - depthOf(a, new Set()))
}

/**
 * What differs between two configs in the parts the running master and nodes depend on (the
 * master block, the server names, and each server's ports, parents and bind addresses); one line
 * per difference.
 *
 * @since 0.1.0
 * @category utils
 */
export const topologyChanges = (
  before: HotaruConfig.HotaruConfig,
  after: HotaruConfig.HotaruConfig
): ReadonlyArray<string> => {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
  const changes: Array<string> = []
  if (!same(before.master, after.master)) changes.push("master: changed")
  const names = new Set([...Object.keys(before.servers), ...Object.keys(after.servers)])
  for (const name of names) {
    const a = before.servers[name]
    const b = after.servers[name]
    if (a === undefined) changes.push(`servers.${name}: added`)
    else if (b === undefined) changes.push(`servers.${name}: removed`)
    else {
      for (const key of ["netport", "webport", "rootport", "roothost", "remoteport", "bind"] as const) {
        if (!same(a[key], b[key])) changes.push(`servers.${name}.${key}: changed`)
      }
    }
  }
  return changes
}
