/**
 * The Schema of one entry of `servers` and of its parent links (`remoteport`).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { BindConfig } from "./bind.js"
import { FrameConfig, HttpConfig, LimitsConfig, ResumeConfig, WsConfig } from "./edgeSchema.js"
import { Bool, described, opt, Port, Seconds, Str } from "./primitives.js"
/**
 * One parent link of a server: firefly's `remoteport` entry.
 *
 * @since 0.1.0
 * @category utils
 */
export const RemotePort = Schema.Struct({
  rootport: Port,
  rootname: Str,
  roothost: opt(Str)
})
export type RemotePort = typeof RemotePort.Type

/**
 * One entry of `servers`.
 *
 * @since 0.1.0
 * @category utils
 */
export const ServerConfig = described(
  Schema.Struct({
    name: opt(Str),
    netport: opt(Port),
    /** hotaru: WebSocket clients (browsers) on this port: the netport's commands, frame and limits. */
    wsport: opt(Port),
    /** hotaru: the WebSocket listener's origins and ping limit (see `WsConfig`). */
    ws: opt(WsConfig),
    webport: opt(Port),
    rootport: opt(Port),
    roothost: opt(Str),
    /** hotaru: listen addresses (see `BindConfig`). */
    bind: opt(BindConfig),
    /** hotaru: limits of the `webport` listener (see `HttpConfig`). */
    http: opt(HttpConfig),
    remoteport: opt(described(Schema.Array(RemotePort), "a list of {rootport, rootname}", false)),
    db: opt(Bool),
    mem: opt(Bool),
    app: opt(Str),
    log: opt(Str),
    cpu: opt(Schema.Unknown),
    reload: opt(Str),
    /** hotaru: client frame settings of the netport. */
    frame: opt(FrameConfig),
    /** hotaru: limits of the netport (see `LimitsConfig`). */
    limits: opt(LimitsConfig),
    /**
     * hotaru: put internal error text (handler failure messages, defects) in the error frames
     * sent to clients (default false; for development only).
     */
    debugErrors: opt(Bool),
    /** hotaru: what a second login (`Session.bind`) of a bound player id does: `kick` (default) the old connection, or `refuse` the new. */
    duplicateLogin: opt(Schema.Literal("kick", "refuse")),
    /** hotaru: session resume of the client edge (see `ResumeConfig`; default off). */
    resume: opt(ResumeConfig),
    /** hotaru: close a client connection that sent nothing for this many seconds (default 60; 0: never). */
    idleTimeout: opt(Seconds),
    /**
     * hotaru: seconds a call to a parent waits for its link to come back before failing with
     * `NodeUnavailable` (default 0: fail at once).
     */
    callTimeout: opt(described(Schema.Number.pipe(Schema.nonNegative()), "a number of seconds >= 0")),
    /** hotaru: requests of one connection handled at once, beyond which reading pauses (default 32). */
    maxInFlight: opt(described(Schema.Int.pipe(Schema.between(1, 65535)), "an integer 1-65535")),
    /**
     * hotaru: make this node an @effect/cluster runner listening on this port (bound like the
     * rootport, see `Sharding`); its app may register entities.
     */
    runnerport: opt(Port),
    /** hotaru: the host other runners dial for this runner (default: its bind address, or 127.0.0.1). */
    runnerhost: opt(Str),
    /** hotaru: give this node entity clients of the cluster without hosting entities (e.g. a net front). */
    entities: opt(Bool),
    /** hotaru: this node makes spans (over the top-level `telemetry.traces`; default false). */
    traces: opt(Bool)
  }),
  "an object",
  false
)
export type ServerConfig = typeof ServerConfig.Type
