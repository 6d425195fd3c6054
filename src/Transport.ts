/**
 * How hotaru nodes reach each other: a `Transport` listens and dials, and
 * yields `Link`s, bidirectional pipes of structured messages.
 *
 * - `Transport.layerTcp`: real sockets (uint32 big-endian length + msgpack
 *   frames, Nagle off, frames above `maxFrameBytes` close the link).
 * - `Transport.layerMemory`: every node in one process, no serialization, with
 *   fault injection through `MemoryNetwork` (cut / block / delay).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as internal from "./internal/link.js"

/**
 * A local transport failure; `reason` says which.
 *
 * @since 0.1.0
 * @category errors
 */
export const TransportError = internal.TransportError

/**
 * @since 0.1.0
 * @category errors
 */
export type TransportError = internal.TransportError

/**
 * @since 0.1.0
 * @category models
 */
export type TransportErrorReason = internal.TransportErrorReason

/**
 * A host and port (`port: 0` on `listen` picks a free port).
 *
 * @since 0.1.0
 * @category models
 */
export type Address = internal.Address

/**
 * A bidirectional pipe of structured messages; see `unsafeSend`, `incoming`,
 * `closed`.
 *
 * @since 0.1.0
 * @category models
 */
export type Link = internal.Link

/**
 * A bound listener: its actual `address` and the `accept` stream of links.
 *
 * @since 0.1.0
 * @category models
 */
export type Listener = internal.Listener

/**
 * Listens and dials. Both operations are scoped: closing the scope closes
 * the listener (and every link it accepted) or the dialed link.
 *
 * @since 0.1.0
 * @category tags
 */
export class Transport extends Context.Tag("hotaru/Transport")<Transport, internal.TransportShape>() {
  /**
   * The TCP transport. `maxFrameBytes` defaults to 16 MiB.
   *
   * @since 0.1.0
   */
  static readonly layerTcp = (options?: internal.TcpOptions): Layer.Layer<Transport> =>
    Layer.sync(Transport, () => internal.makeTcp(options))

  /**
   * The in-memory transport: one hub shared by every node built on this layer
   * (build the layer once, share it), plus its fault controls `MemoryNetwork`.
   *
   * @since 0.1.0
   */
  static readonly layerMemory: Layer.Layer<Transport | MemoryNetwork> = Layer.scopedContext(
    Effect.map(internal.makeMemory, ({ network, transport }) =>
      Context.make(Transport, transport).pipe(Context.add(MemoryNetwork, network))
    )
  )
}

/**
 * Fault injection for the memory transport (tests): `cut`, `block`/`unblock`
 * and `delay`, each keyed by a listener's address.
 *
 * @since 0.1.0
 * @category tags
 */
export class MemoryNetwork extends Context.Tag("hotaru/Transport/MemoryNetwork")<
  MemoryNetwork,
  internal.MemoryNetworkShape
>() {}
