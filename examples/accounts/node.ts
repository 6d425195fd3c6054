/**
 * The accounts app as a config-driven node module: `"app": "./node.ts"` in `config.json`. The
 * node's `db: true` and `mem: true` give it `SqlClient` and `Mem`; the repository and the three
 * commands come from `app.ts`.
 */
import * as Layer from "effect/Layer"
import { Accounts, App } from "./app.js"

export default App.pipe(Layer.provide(Accounts.layer()))
