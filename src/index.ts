/**
 * hotaru: a distributed game-server runtime for TypeScript on Effect v3.
 *
 * @since 0.1.0
 */
export * as Client from "./Client.js"
export * as Command from "./Command.js"
export * as Config from "./Config.js"
export * as Log from "./Log.js"
export * as NetServer from "./NetServer.js"
export * as NodeError from "./NodeError.js"
export * as Remote from "./Remote.js"
export * as Root from "./Root.js"
export * as Transport from "./Transport.js"
