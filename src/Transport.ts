/**
 * How hotaru nodes reach each other: a `Transport` listens and dials, and
 * yields `Link`s, bidirectional pipes of structured messages.
 *
 * - `Transport.layerTcp`: real sockets (uint32 big-endian length + msgpack
 *   frames, Nagle off, frames above `maxFrameBytes` close the link; before
 *   the link's handshake only a few frames of at most 4 KiB; optional mutual
 *   TLS). `Transport.layerConfig` builds it from a config's `tls` and `links`.
 * - `Transport.layerMemory`: every node in one process, no serialization, with
 *   fault injection through `MemoryNetwork` (cut / block / delay).
 *
 * @since 0.1.0
 */

import { FileSystem, Path } from "@effect/platform"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ConfigError, type Loaded } from "./HotaruConfig.js"
import { helloTimeoutOf } from "./internal/config/linkAuth.js"
import { readNamedFile } from "./internal/config/wsTls.js"
import type { MemoryNetworkShape, TransportShape } from "./internal/link/link.js"
import { makeMemory } from "./internal/link/memory.js"
import { makeTcp } from "./internal/link/tcp.js"
import type { TcpOptions } from "./internal/link/tcpLink.js"

export {
  type Address,
  type Link,
  type Listener,
  type MemoryNetworkShape,
  TransportError,
  type TransportErrorReason,
  type TransportShape
} from "./internal/link/link.js"
export type { TcpOptions, TlsOptions } from "./internal/link/tcpLink.js"

/**
 * Listens and dials. Both operations are scoped: closing the scope closes
 * the listener (and every link it accepted) or the dialed link.
 *
 * @since 0.1.0
 * @category tags
 */
export class Transport extends Context.Tag("hotaru/Transport")<Transport, TransportShape>() {}

/**
 * The TCP transport. Defaults: `maxFrameBytes` 4 MiB (after the handshake;
 * 4 KiB and 4 frames before it), `maxDepth` 100, `highWaterBytes` 1 MiB
 * (stop reading a peer that does not take what it is sent), `maxQueuedBytes`
 * 16 MiB (then the link closes, "SlowPeer"), no TLS.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTcp = (options?: TcpOptions): Layer.Layer<Transport> =>
  Layer.sync(Transport, () => makeTcp(options))

/**
 * The TCP transport a config asks for: its `links` limits and, with a `tls`
 * block, mutual TLS with the PEM files it names (relative to the config).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  loaded: Loaded
): Layer.Layer<Transport, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(Transport, Effect.map(tcpOptions(loaded), makeTcp))

/**
 * Fault injection for the memory transport (tests): `cut`, `block`/`unblock`
 * and `delay`, each keyed by a listener's address.
 *
 * @since 0.1.0
 * @category tags
 */
export class MemoryNetwork extends Context.Tag("hotaru/Transport/MemoryNetwork")<
  MemoryNetwork,
  MemoryNetworkShape
>() {}

/**
 * The in-memory transport: one hub shared by every node built on this layer
 * (build the layer once, share it), plus its fault controls `MemoryNetwork`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<Transport | MemoryNetwork> = Layer.scopedContext(
  Effect.map(makeMemory, ({ network, transport }) =>
    Context.make(Transport, transport).pipe(Context.add(MemoryNetwork, network))
  )
)

/**
 * The `TcpOptions` of a config: its `links` limits, and its `tls` files read
 * (a file that cannot be read is a `ConfigError` naming the key).
 *
 * @since 0.1.0
 *
 * @category utils
 */
export const tcpOptions = (
  loaded: Loaded
): Effect.Effect<TcpOptions, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const { links, tls } = loaded.config
    const options: { -readonly [K in keyof TcpOptions]: TcpOptions[K] } = {}
    if (links?.maxFrameBytes !== undefined) options.maxFrameBytes = links.maxFrameBytes
    if (links?.maxQueuedBytes !== undefined) options.maxQueuedBytes = links.maxQueuedBytes
    const helloTimeout = helloTimeoutOf(loaded.config)
    if (helloTimeout !== undefined) options.handshakeTimeout = helloTimeout
    if (tls !== undefined) {
      options.tls = yield* Effect.all({
        cert: readNamedFile(loaded, "tls.cert", tls.cert),
        key: readNamedFile(loaded, "tls.key", tls.key),
        ca: readNamedFile(loaded, "tls.ca", tls.ca)
      })
    }
    return options
  })
