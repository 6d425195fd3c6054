/**
 * The master's errors: `MasterError` (it could not start, or a node failed under
 * `supervisor.onFailed: "exit"`) and `NodeRunError` (why one incarnation of a node ended).
 * Re-exported by the public `Master` module.
 *
 * @internal
 */
import { Data } from "effect"

/**
 * The master could not start (`NoMaster`, `Listen`, `Token`, `Snapshot`; `UnknownApp`: an app
 * given in code for no server of the config; `AppsInProcessMode`: apps given in code with the
 * `process` mode, see `Options.apps`; `UnknownNode`: `only` names no server of the config), or stopped because a
 * node failed under `supervisor.onFailed: "exit"` (`NodeFailed`).
 *
 * @since 0.1.0
 * @category errors
 */
export class MasterError extends Data.TaggedError("MasterError")<{
  readonly reason:
    | "NoMaster"
    | "Listen"
    | "Token"
    | "Snapshot"
    | "NodeFailed"
    | "UnknownApp"
    | "AppsInProcessMode"
    | "UnknownNode"
  readonly detail: string
}> {
  override get message(): string {
    return `master: ${this.detail}`
  }
}

/**
 * Why one incarnation of a node ended (the supervisor restarts it): it did not register with the
 * master in time (`StartTimeout`), its master link stayed down past the heartbeat grace
 * (`HeartbeatLost`), its in-process layer failed to build (`BuildFailed`) or an admin `Stop`
 * asked it to stop (`StopRequested`). A node process that exits is a `ProcessError`.
 *
 * @since 0.1.0
 * @category errors
 */
export class NodeRunError extends Data.TaggedError("NodeRunError")<{
  readonly reason: "StartTimeout" | "HeartbeatLost" | "BuildFailed" | "StopRequested"
  readonly node: string
  readonly message: string
  readonly cause?: unknown
}> {}
