/**
 * The Schemas of the node link blocks: `heartbeat`, `secret`, `tls` and `links`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { MIN_SECRET_LENGTH } from "./limits.js"
import { Bytes, describedSecret, opt, PositiveNumber, Str } from "./primitives.js"
/**
 * hotaru's `heartbeat` block: how node links detect a frozen peer (seconds; default 2 and 6).
 *
 * @since 0.1.0
 * @category utils
 */
export const HeartbeatConfig = Schema.Struct({
  interval: opt(PositiveNumber),
  timeout: opt(PositiveNumber)
})
export type HeartbeatConfig = typeof HeartbeatConfig.Type

/**
 * hotaru's `secret`: the cluster secret every node link proves it holds (see SECURITY.md). It
 * decodes to `Redacted`, so printing a config never shows it; a bad one's error names its length.
 *
 * @since 0.1.0
 * @category utils
 */
export const Secret = Schema.Redacted(
  describedSecret(
    Schema.String.pipe(Schema.minLength(MIN_SECRET_LENGTH)),
    `a string of at least ${MIN_SECRET_LENGTH} characters`
  )
)

/**
 * hotaru's `adminToken`: the bearer token of the admin endpoints, decoded to `Redacted`.
 *
 * @since 0.1.0
 * @category utils
 */
export const AdminToken = Schema.Redacted(describedSecret(Schema.String, "a string"))

/**
 * hotaru's `tls` block: mutual TLS on every node link. PEM files, relative to the config's
 * directory: this node's `cert` and `key`, and the cluster `ca` every peer must chain to.
 *
 * @since 0.1.0
 * @category utils
 */
export const TlsConfig = Schema.Struct({ cert: Str, key: Str, ca: Str })
export type TlsConfig = typeof TlsConfig.Type

/**
 * hotaru's `links` block: limits of node links. `helloTimeout` (seconds a new link has to finish
 * its handshake, default 5), `maxFrameBytes` (largest frame after it, default 4 MiB),
 * `maxQueuedBytes` (unwritten bytes for one peer before the link is dropped, default 16 MiB).
 *
 * @since 0.1.0
 * @category utils
 */
export const LinksConfig = Schema.Struct({
  helloTimeout: opt(PositiveNumber),
  maxFrameBytes: opt(Bytes),
  maxQueuedBytes: opt(Bytes)
})
export type LinksConfig = typeof LinksConfig.Type
