/**
 * The checks of a decoded config no single field can make (parents, ports, cycles).
 *
 * @since 0.1.0
 */
import type { HotaruConfig } from "./schema.js"
/**
 * The checks no single field can make: parents that exist, ports used once per host (servers
 * with different `roothost`s may share port numbers), no parent cycle.
 *
 * @since 0.1.0
 * @category utils
 */
export const crossCheck = (config: HotaruConfig): ReadonlyArray<string> => {
  const issues: Array<string> = []
  const names = Object.keys(config.servers)
  // a port is used once per host: servers whose configured `roothost`s differ are on different
  // hosts and may use the same port numbers (one without a roothost may be on any host)
  const ports = new Map<number, Array<{ readonly where: string; readonly host: string | undefined }>>()
  const usePort = (port: number | undefined, where: string, host: string | undefined) => {
    if (port === undefined) return
    const users = ports.get(port) ?? []
    const first = users.find((u) => u.host === undefined || host === undefined || u.host === host)
    if (first !== undefined) issues.push(`${where}: port ${port} is already used by ${first.where}`)
    else ports.set(port, [...users, { where, host }])
  }
  if (config.master) {
    usePort(config.master.rootport, "master.rootport", config.master.roothost)
    usePort(config.master.webport, "master.webport", config.master.roothost)
  }
  for (const [key, server] of Object.entries(config.servers)) {
    if (key === "master") issues.push(`servers.master: "master" is reserved for the master`)
    usePort(server.netport, `servers.${key}.netport`, server.roothost)
    usePort(server.wsport, `servers.${key}.wsport`, server.roothost)
    usePort(server.webport, `servers.${key}.webport`, server.roothost)
    usePort(server.rootport, `servers.${key}.rootport`, server.roothost)
    usePort(server.runnerport, `servers.${key}.runnerport`, server.roothost)
    server.remoteport?.forEach((link, i) => {
      const where = `servers.${key}.remoteport[${i}]`
      const parent = config.servers[link.rootname]
      if (parent === undefined) {
        issues.push(`${where}.rootname: "${link.rootname}" names no server (servers: ${names.join(", ")})`)
      } else if (parent.rootport === undefined) {
        issues.push(`${where}.rootname: "${link.rootname}" has no rootport to connect to`)
      } else if (parent.rootport !== link.rootport) {
        issues.push(
          `${where}.rootport: ${link.rootport} is not ${link.rootname}'s rootport (${parent.rootport})`
        )
      }
      if (link.rootname === key) issues.push(`${where}.rootname: "${key}" cannot be its own parent`)
    })
  }
  // cycle of parents: depth-first search over remoteport edges
  const state = new Map<string, "visiting" | "done">()
  const visit = (name: string, trail: Array<string>): void => {
    const s = state.get(name)
    if (s === "done") return
    if (s === "visiting") {
      const cycle = [...trail.slice(trail.indexOf(name)), name]
      issues.push(`servers.${name}.remoteport: cycle of parents ${cycle.join(" -> ")}`)
      return
    }
    state.set(name, "visiting")
    for (const link of config.servers[name]?.remoteport ?? []) {
      if (link.rootname !== name && config.servers[link.rootname] !== undefined) {
        visit(link.rootname, [...trail, name])
      }
    }
    state.set(name, "done")
  }
  for (const name of names) visit(name, [])
  return issues
}
