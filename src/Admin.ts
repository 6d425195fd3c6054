/**
 * The services every node offers the master over its master link (firefly's `serverStop`,
 * `sreload`), plus `Status`. Typed like any other hotaru RPC group.
 *
 * @since 0.1.0
 */
export { AdminService, NodeStatus, ParentLink, ReloadFailed } from "./internal/control/adminRpc.js"
