/**
 * hotaru: a distributed game-server runtime for TypeScript on Effect v3.
 *
 * @since 0.1.0
 */
export * as Admin from "./Admin.js"
export * as AdminApi from "./AdminApi.js"
export * as Agent from "./Agent.js"
export * as Channel from "./Channel.js"
export * as Client from "./Client.js"
export * as Db from "./Db.js"
export * as EntitySharding from "./EntitySharding.js"
export * as HotaruConfig from "./HotaruConfig.js"
export * as Log from "./Log.js"
export * as Main from "./Main.js"
export * as Master from "./Master.js"
export * as Mem from "./Mem.js"
export * as NetCommand from "./NetCommand.js"
export * as NetCommandGroup from "./NetCommandGroup.js"
export * as NetServer from "./NetServer.js"
export * as Node from "./Node.js"
export * as NodeError from "./NodeError.js"
export * as NodeSupervisor from "./NodeSupervisor.js"
export * as Remote from "./Remote.js"
export * as Repository from "./Repository.js"
export * as Root from "./Root.js"
export * as Session from "./Session.js"
export * as Transport from "./Transport.js"
export * as Web from "./Web.js"
