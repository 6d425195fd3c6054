/**
 * A private redis-server for a test or the chaos suite: a free port on 127.0.0.1, its own
 * directory under the system temp dir, AOF settings as asked. It can be killed (SIGKILL) and
 * started again on the same port and directory (the AOF brings the data back).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export interface RedisServerOptions {
  /** `"yes"` (default) or `"no"`. */
  readonly appendonly?: "yes" | "no"
  /** `"always"` (default), `"everysec"` or `"no"`. */
  readonly appendfsync?: "always" | "everysec" | "no"
  readonly maxmemoryPolicy?: string
  /** More redis-server arguments, e.g. `["--rename-command", "CONFIG", ""]`. */
  readonly extraArgs?: ReadonlyArray<string>
}

export interface RedisServer {
  readonly port: number
  readonly url: string
  readonly dir: string
  /** SIGKILL (no shutdown save). */
  readonly kill: () => Promise<void>
  /** Starts it again on the same port and directory. */
  readonly start: () => Promise<void>
  /** Kills it and removes its directory. */
  readonly dispose: () => Promise<void>
}

/** A port free at the time of asking (the OS's choice for port 0). */
import { freePort } from "./ports.js"

export { freePort }

const answers = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.once("data", (data) => done(data.toString().startsWith("+PONG")))
    socket.once("error", () => done(false))
  })

const exited = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once("exit", () => resolve())
  })

export const startRedisServer = async (options: RedisServerOptions = {}): Promise<RedisServer> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hotaru-redis-"))
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async () => {
    child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--appendonly",
        options.appendonly ?? "yes",
        "--appendfsync",
        options.appendfsync ?? "always",
        "--maxmemory-policy",
        options.maxmemoryPolicy ?? "noeviction",
        "--save",
        "",
        "--daemonize",
        "no",
        ...(options.extraArgs ?? [])
      ],
      { stdio: "ignore" }
    )
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      if (await answers(port)) return
      if (child.exitCode !== null) break
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`redis-server on port ${port} did not start`)
  }
  const kill = async () => {
    if (child === undefined) return
    const c = child
    c.kill("SIGKILL")
    await exited(c)
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    kill,
    start,
    dispose: async () => {
      await kill()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
