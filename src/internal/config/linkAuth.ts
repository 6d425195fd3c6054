/**
 * What every node link (Root, Remote, a host agent's link, runner sockets) takes from the config
 * to authenticate: the cluster secret and the handshake deadline (`links.helloTimeout`, seconds
 * in the file). Read here once, so every link converts the file's numbers the same way.
 */
import * as Duration from "effect/Duration"
import type { HotaruConfig } from "../../HotaruConfig.js"
import { type Secret, secretOf } from "./secret.js"

/** The handshake deadline of the config's links; `undefined`: each link's default (5 s). */
export const helloTimeoutOf = (config: HotaruConfig): Duration.Duration | undefined =>
  config.links?.helloTimeout === undefined ? undefined : Duration.seconds(config.links.helloTimeout)

/** The cluster secret and handshake deadline every link of a node proves and waits for. */
export const linkAuthOf = (
  config: HotaruConfig
): { readonly secret: Secret | undefined; readonly helloTimeout: Duration.Duration | undefined } => ({
  secret: secretOf(config.secret),
  helloTimeout: helloTimeoutOf(config)
})
