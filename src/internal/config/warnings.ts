/**
 * The notes hotaru gives a config firefly accepts: keys it reads differently or ignores.
 *
 * @since 0.1.0
 */
import { MasterConfig } from "./masterSchema.js"
import { HotaruConfig } from "./schema.js"
import { ServerConfig } from "./serverSchema.js"

const unknownKeys = (json: unknown, known: object, where: string): ReadonlyArray<string> =>
  typeof json === "object" && json !== null && !Array.isArray(json)
    ? Object.keys(json)
        .filter((key) => !Object.hasOwn(known, key))
        .map((key) => `${where}${key}: unknown key, ignored`)
    : []

/**
 * The notes a config that firefly accepts gets from hotaru, which accepts it too: a server's
 * `name` differing from its key (firefly and hotaru name a node by its key, as `appmain.py NAME`
 * does), firefly keys hotaru does not apply (`log`: hotaru logs to stdout; `cpu`: no CPU pinning),
 * keys neither knows (with `json`, the file as parsed), and a `telemetry` exporter no node uses.
 * One line each, as `path: note`.
 *
 * @since 0.1.0
 * @category utils
 */
export const warningsOf = (config: HotaruConfig, json?: unknown): ReadonlyArray<string> => {
  const warnings: Array<string> = [...unknownKeys(json, HotaruConfig.fields, "")]
  const raw = (json ?? {}) as {
    readonly master?: unknown
    readonly servers?: Readonly<Record<string, unknown>>
  }
  warnings.push(...unknownKeys(raw.master, MasterConfig.fields, "master."))
  const telemetry = config.telemetry
  const tracing = Object.values(config.servers).some((s) => s.traces ?? telemetry?.traces === true)
  if ((telemetry?.otlp !== undefined || telemetry?.serviceName !== undefined) && !tracing) {
    warnings.push("telemetry: no node traces (telemetry.traces is not true), so nothing is exported")
  }
  for (const [key, server] of Object.entries(config.servers)) {
    const where = `servers.${key}`
    if (server.name !== undefined && server.name !== key) {
      warnings.push(
        `${where}.name: "${server.name}" differs from its key; the node is named "${key}" (by its key, as in firefly)`
      )
    }
    if (server.log !== undefined) {
      warnings.push(
        `${where}.log: not written; hotaru logs to stdout (the master prefixes each node's lines), redirect it to keep a file`
      )
    }
    if (server.cpu !== undefined) {
      warnings.push(
        `${where}.cpu: ignored; hotaru does not pin CPUs (start the master under taskset instead)`
      )
    }
    warnings.push(...unknownKeys(raw.servers?.[key], ServerConfig.fields, `${where}.`))
  }
  return warnings
}
