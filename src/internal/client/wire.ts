/**
 * What the client needs of its connection, whatever carries it (TCP under Node, WebSocket in a
 * browser or under Node): bytes out, bytes and the end in. Failures are plain text; the client
 * turns them into its typed errors.
 */
import type { Effect, Scope } from "effect"

/** An open connection of the client. */
export interface ClientWire {
  readonly isClosed: () => boolean
  readonly write: (bytes: Uint8Array) => void
  /** Close now. */
  readonly destroy: () => void
}

/** What the connection reports. */
export interface WireEvents {
  readonly onData: (chunk: Uint8Array) => void
  readonly onError: (message: string) => void
  readonly onClose: () => void
}

/** Open a connection reporting to `events`; it closes with the scope; fails with why it could not open. */
export type OpenWire = (events: WireEvents) => Effect.Effect<ClientWire, string, Scope.Scope>
