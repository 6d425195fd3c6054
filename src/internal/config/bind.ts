/**
 * Listen addresses: the `bind` key of a server or of the master, and the address each listener
 * binds (config, CLI `--bind`, defaults).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { described, opt, Str } from "./primitives.js"
/**
 * hotaru's `bind` key (per server and on the master): the address each listener binds. A string
 * applies to the internal listeners (`root`, `web`); an object names each listener. Defaults: the
 * public `net` edge on all interfaces (`0.0.0.0`), every other listener on `127.0.0.1`.
 *
 * @since 0.1.0
 * @category utils
 */
export const BindConfig = described(
  Schema.Union(Str, Schema.Struct({ net: opt(Str), root: opt(Str), web: opt(Str) })),
  'an address string or {"net", "root", "web"} addresses',
  false
)
export type BindConfig = typeof BindConfig.Type

/**
 * A listener of a server or of the master.
 *
 * @since 0.1.0
 * @category models
 */
export type Listener = "net" | "root" | "web"

/**
 * Default address of a listener: the client edge is public, everything else is loopback.
 *
 * @since 0.1.0
 * @category utils
 */
export const defaultBind = (listener: Listener): string => (listener === "net" ? "0.0.0.0" : "127.0.0.1")

/**
 * The address a listener binds: `override` (the CLI's `--bind`, for internal listeners only),
 * else the config's `bind`, else the default.
 *
 * @since 0.1.0
 * @category utils
 */
export const bindAddress = (bind: BindConfig | undefined, listener: Listener, override?: string): string => {
  if (override !== undefined && listener !== "net") return override
  if (typeof bind === "string") return listener === "net" ? defaultBind("net") : bind
  return bind?.[listener] ?? defaultBind(listener)
}

/**
 * Whether an address is a loopback address (127.0.0.0/8, ::1, localhost).
 *
 * @since 0.1.0
 * @category utils
 */
export const isLoopback = (address: string): boolean =>
  address === "localhost" || address === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)
