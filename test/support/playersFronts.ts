/**
 * The fronts of the players e2e tests (`test/fixtures/playersApp.ts` under `hotaru start`): the
 * app's path, a typed client, and the wait until each front logs a player in (it runs, its app
 * is loaded, and its login reaches the master).
 */
import * as Path from "node:path"
import { Effect } from "effect"
import * as Client from "../../src/Client.js"
import { Login } from "../fixtures/playersApp.js"
import { repo } from "./cli.js"
import { waitFor } from "./wait.js"

export const playersApp = Path.join(repo, "test/fixtures/playersApp.ts")

export const connect = (port: number) => Client.connect({ host: "127.0.0.1", port, timeout: "5 seconds" })

/** Waits (60 s each) until every front logs its uid in. */
export const frontsLogIn = async (
  logins: ReadonlyArray<readonly [port: number, uid: string]>
): Promise<void> => {
  for (const [port, uid] of logins) {
    await waitFor(
      `front on ${port} to log a player in`,
      () => Effect.runPromise(Effect.scoped(Effect.flatMap(connect(port), (c) => c.call(Login, uid)))),
      60_000
    )
  }
}
