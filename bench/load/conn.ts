/**
 * The load client's view of one client connection, whatever the server speaks. `load.ts` drives
 * the workloads through this interface; `fireflyConn.ts` and `pinusConn.ts` implement it.
 */

/** The operations the workloads send: 1-hop echo, 2-hop forward, fan-out trigger. */
export type Op = "echo" | "forward" | "fanout"

export interface ConnHooks {
  /** A push (fan-out delivery) arrived. */
  readonly onPush?: () => void
  /** The connection closed or failed (once). */
  readonly onClose?: (error: Error) => void
}

export interface Conn {
  /** `done(undefined)` once the connection carries requests, `done(error)` if it never will. */
  ready(done: (error: Error | undefined) => void): void
  /** Join the fan-out audience; `done` once the server has taken this connection in. */
  subscribe(done: (error: Error | undefined) => void): void
  /** One request, at most one outstanding per connection (closed loop). */
  request(op: Op, body: Buffer, done: (error: Error | undefined) => void): void
  /** A message with no reply. */
  notify(op: Op, body: Buffer): void
  /** Close with RST (no TIME_WAIT piling up across runs). */
  close(): void
}

export interface Protocol {
  readonly name: string
  readonly connect: (host: string, port: number, hooks: ConnHooks) => Conn
  /** A request body of `size` bytes in the form the server expects. */
  readonly makeBody: (size: number) => Buffer
}
