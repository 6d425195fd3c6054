/**
 * The parent/child graph of the servers (`remoteport` edges).
 *
 * @since 0.1.0
 */
import type { HotaruConfig } from "./schema.js"
/**
 * Names of the servers that list `parent` in their `remoteport`.
 *
 * @since 0.1.0
 * @category utils
 */
export const childrenOf = (config: HotaruConfig, parent: string): ReadonlyArray<string> =>
  Object.entries(config.servers)
    .filter(([, server]) => server.remoteport?.some((link) => link.rootname === parent) ?? false)
    .map(([name]) => name)
