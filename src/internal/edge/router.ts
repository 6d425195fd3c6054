/**
 * The routes and hooks of a node's client edge: which handler answers each command id, and what
 * runs when a client connects or leaves. Filled by `NetServer.handle` / `onConnect` /
 * `onDisconnect` layers, read by every listener (TCP or WebSocket) of the node.
 */
import { Context, Effect, Layer } from "effect"
import type * as NetCommand from "../../NetCommand.js"
import type { Connection, NetServer } from "./service.js"

/**
 * One registered command: the command, its handler as written (it may need `Provided` and what
 * `context` holds) and the context its handler layer captured when it was built.
 *
 * @since 0.1.0
 * @category models
 */
export interface Route {
  readonly command: NetCommand.Any
  readonly handler: (request: unknown, connection: Connection) => Effect.Effect<unknown, unknown, unknown>
  readonly context: Context.Context<never>
}

/**
 * A connect or disconnect hook, its layer's context already provided.
 *
 * @since 0.1.0
 * @category models
 */
export type Hook = (connection: Connection) => Effect.Effect<void, never, NetServer>

/**
 * Which hook: a connection opened or closed, a session was bound or ended.
 *
 * @since 0.1.0
 * @category models
 */
export type HookKind = "onConnect" | "onDisconnect" | "onBind" | "onClose"

/**
 * The routes and hooks of a node (the `NetRouter` service). What it holds is read-only from the
 * outside; it changes only through `register`, `addHook` and `replace` (the `handle` /
 * `onConnect` / `onDisconnect` layers call them).
 *
 * @since 0.1.0
 * @category models
 */
export interface Router {
  /** The route of each command id (a read-only view; the server's lookup per frame). */
  readonly routes: ReadonlyMap<number, Route>
  /** The connect hooks, in registration order (a read-only view). */
  readonly onConnect: ReadonlyArray<Hook>
  /** The disconnect hooks, in registration order (a read-only view). */
  readonly onDisconnect: ReadonlyArray<Hook>
  /** The hooks run when a connection is bound to a player (`Session.bind`), in order. */
  readonly onBind: ReadonlyArray<Hook>
  /** The hooks run when a bound session ends (its parked window over, if resume is on), in order. */
  readonly onClose: ReadonlyArray<Hook>
  /** Add the route of a command; dies if its command id already has one. */
  readonly register: (route: Route) => Effect.Effect<void>
  /** Add a connect, disconnect, bind or close hook. */
  readonly addHook: (which: HookKind, hook: Hook) => Effect.Effect<void>
  /**
   * Take the routes and hooks of `other` in place of this router's own, in one synchronous step
   * (a hot reload: no request sees half of the old and half of the new routes).
   */
  readonly replace: (other: Router) => Effect.Effect<void>
}

/**
 * A fresh, empty router.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRouter: Effect.Effect<Router> = Effect.sync(() => {
  const routes = new Map<number, Route>()
  const onConnect: Array<Hook> = []
  const onDisconnect: Array<Hook> = []
  const onBind: Array<Hook> = []
  const onClose: Array<Hook> = []
  const hooks: Record<HookKind, Array<Hook>> = { onConnect, onDisconnect, onBind, onClose }
  return {
    routes,
    onConnect,
    onDisconnect,
    onBind,
    onClose,
    register: (route) =>
      Effect.suspend(() => {
        const id = route.command.id
        const existing = routes.get(id)
        if (existing !== undefined) {
          return Effect.dieMessage(
            `command ${id} (${route.command.name}) has two handlers: ${existing.command.name} and ${route.command.name}`
          )
        }
        routes.set(id, route)
        return Effect.void
      }),
    addHook: (which, hook) =>
      Effect.sync(() => {
        hooks[which].push(hook)
      }),
    replace: (other) =>
      Effect.sync(() => {
        if (other.routes === routes) return
        routes.clear()
        for (const [id, route] of other.routes) routes.set(id, route)
        onConnect.splice(0, onConnect.length, ...other.onConnect)
        onDisconnect.splice(0, onDisconnect.length, ...other.onDisconnect)
        onBind.splice(0, onBind.length, ...other.onBind)
        onClose.splice(0, onClose.length, ...other.onClose)
      })
  }
})

/**
 * The routes and hooks of a node, filled by `handle` / `onConnect` / `onDisconnect` layers.
 *
 * @since 0.1.0
 * @category services
 */
export class NetRouter extends Context.Tag("hotaru/NetServer/NetRouter")<NetRouter, Router>() {}

/**
 * A fresh, empty `NetRouter`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRouter: Layer.Layer<NetRouter> = Layer.effect(NetRouter, makeRouter)
