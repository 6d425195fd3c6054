/**
 * A group of client commands whose handlers are given together, like `@effect/rpc`'s `RpcGroup`:
 * `toLayer` demands a handler for every command of the group (by command name), so a missing
 * one does not compile, and registers them all on the `NetServer`.
 *
 * ```ts
 * const Lobby = NetCommandGroup.make(Join, Leave)
 * const App = Lobby.toLayer({
 *   join: ({ room }) => Effect.fail(new RoomFull({ room })), // only Join's declared errors
 *   leave: () => Effect.void
 * })
 * const Net = NetServer.serve(App, { port: 10001 })
 * ```
 *
 * `NetServer.handle` stays the way to register a single command.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as NetCommand from "./NetCommand.js"
import * as NetServer from "./NetServer.js"

/**
 * The handlers of a group's commands, keyed by command name.
 *
 * @since 0.1.0
 * @category models
 */
export type Handlers<Commands extends NetCommand.Any> = {
  readonly [C in Commands as C["name"]]: NetServer.Handler<C, unknown>
}

/**
 * What the handlers in `H` require (beyond what the server provides).
 *
 * @since 0.1.0
 * @category models
 */
export type HandlersContext<H> = {
  [K in keyof H]: H[K] extends (...args: never) => Effect.Effect<unknown, unknown, infer R> ? R : never
}[keyof H]

/**
 * What a group's handler layer provides: one `NetServer.Handled` per command.
 *
 * @since 0.1.0
 * @category models
 */
export type HandledBy<Commands extends NetCommand.Any> =
  Commands extends NetCommand.Command<infer Name, infer _Req, infer _Res, infer Err>
    ? NetServer.Handled<Name, Err>
    : never

/**
 * A group of commands.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommandGroup<Commands extends NetCommand.Any> {
  readonly _tag: "CommandGroup"
  readonly commands: ReadonlyArray<Commands>
  /**
   * The layer of the group's handlers, one per command (keyed by command name; each typed as
   * in `NetServer.handle`). A missing or extra handler does not compile.
   */
  readonly toLayer: <H extends Handlers<Commands>>(
    handlers: H & Record<Exclude<keyof H, Commands["name"]>, never>
  ) => Layer.Layer<
    HandledBy<Commands>,
    never,
    NetServer.NetRouter | Exclude<HandlersContext<H>, NetServer.Provided>
  >
}

/**
 * Group commands. Throws a `RangeError` if two commands share an id or a name (a mistake in the
 * protocol's definition, found when its module loads).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Commands extends ReadonlyArray<NetCommand.Any>>(
  ...commands: Commands
): CommandGroup<Commands[number]> => {
  const ids = new Set<number>()
  const names = new Set<string>()
  for (const command of commands) {
    if (ids.has(command.id)) throw new RangeError(`two commands of the group have id ${command.id}`)
    if (names.has(command.name)) throw new RangeError(`two commands of the group are named ${command.name}`)
    ids.add(command.id)
    names.add(command.name)
  }
  return {
    _tag: "CommandGroup",
    commands,
    toLayer: (handlers) => {
      const byName = handlers as unknown as Record<string, NetServer.Handler<NetCommand.Any, unknown>>
      const layers = commands.map((command) => {
        const handler = byName[command.name]
        if (typeof handler !== "function") throw new RangeError(`no handler for command ${command.name}`)
        return NetServer.handle(
          command as unknown as NetCommand.Command<string, unknown, unknown, unknown>,
          handler as NetServer.Handler<NetCommand.Command<string, unknown, unknown, unknown>, unknown>
        )
      })
      return Layer.mergeAll(Layer.empty, ...layers) as unknown as Layer.Layer<
        HandledBy<Commands[number]>,
        never,
        NetServer.NetRouter | Exclude<HandlersContext<typeof handlers>, NetServer.Provided>
      >
    }
  }
}
