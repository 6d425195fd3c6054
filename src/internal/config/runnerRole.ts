/**
 * A server's cluster role (runner, entity client, none) from its config entry.
 *
 * @since 0.1.0
 */
import type { Role } from "../../EntitySharding.js"
import { bindAddress } from "./bind.js"
import type { ServerConfig } from "./serverSchema.js"

/**
 * The role of server `server` (undefined: it takes no part in sharding). `bindOverride` is the
 * CLI's `--bind` (internal listeners).
 *
 * @since 0.1.0
 * @category utils
 */
export const roleOf = (server: ServerConfig, bindOverride?: string): Role | undefined => {
  if (server.runnerport !== undefined) {
    const bind = bindAddress(server.bind, "root", bindOverride)
    const host = server.runnerhost ?? (bind === "0.0.0.0" || bind === "::" ? "127.0.0.1" : bind)
    return { _tag: "Runner", bind, host, port: server.runnerport }
  }
  return server.entities === true ? { _tag: "Client" } : undefined
}
