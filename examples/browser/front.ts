/**
 * The front of the tap game: the commands over `wsport` and, on `webport`, the page that plays
 * them (`/`, `/game.js`: page/game.ts bundled for the browser with esbuild on the first request,
 * `/hotaru.json`: where the page connects).
 */
import * as Fs from "node:fs/promises"
import { HttpServerResponse } from "@effect/platform"
import { Effect, Layer, Option, Ref } from "effect"
import { Channel, NetServer, Node, Session, Web } from "hotaru-rt"
import { type Board, BoardPush, Join, Tap } from "./protocol.js"

const page = (file: string) => new URL(`./page/${file}`, import.meta.url)

/** page/game.ts and what it imports (hotaru-rt/client, the protocol) as one browser module. */
const bundle = Effect.tryPromise(async () => {
  const esbuild = await import("esbuild")
  const built = await esbuild.build({
    entryPoints: [page("game.ts").pathname],
    bundle: true,
    platform: "browser",
    format: "esm",
    minify: true,
    write: false,
    logLevel: "silent"
  })
  return built.outputFiles[0]!.text
})

const routes = (wsport: number | undefined) =>
  Layer.unwrapEffect(
    Effect.map(Effect.cached(bundle), (script) =>
      Layer.mergeAll(
        Web.get("/", () =>
          Effect.map(
            Effect.promise(() => Fs.readFile(page("index.html"), "utf8")),
            (html) => HttpServerResponse.text(html, { contentType: "text/html; charset=utf-8" })
          )
        ),
        Web.get("/game.js", () =>
          Effect.map(Effect.orDie(script), (js) =>
            HttpServerResponse.text(js, { contentType: "text/javascript" })
          )
        ),
        Web.get("/hotaru.json", () => Effect.succeed({ wsport: wsport ?? null }))
      )
    )
  )

const commands = Layer.unwrapEffect(
  Effect.gen(function* () {
    const taps = yield* Ref.make(new Map<string, number>())
    const board = Effect.map(
      Ref.get(taps),
      (all): Board => [...all].map(([name, n]) => ({ name, taps: n })).sort((a, b) => b.taps - a.taps)
    )
    const publish = Effect.flatMap(board, (b) => Channel.push("board", BoardPush, b))
    return Layer.mergeAll(
      NetServer.handle(Join, (name) =>
        Effect.gen(function* () {
          yield* Session.bind(name)
          yield* Effect.orDie(Channel.join("board"))
          yield* Ref.update(taps, (all) => (all.has(name) ? all : new Map(all).set(name, 0)))
          yield* Effect.orDie(publish)
          return yield* board
        })
      ),
      NetServer.handle(Tap, () =>
        Effect.gen(function* () {
          const name = Option.getOrElse(yield* Session.uid, () => "")
          if (name === "") return 0 // not joined: nothing to count
          const next = yield* Ref.modify(taps, (all) => {
            const n = (all.get(name) ?? 0) + 1
            return [n, new Map(all).set(name, n)]
          })
          yield* Effect.orDie(publish)
          return next
        })
      )
    )
  })
)

export default Layer.unwrapEffect(
  Effect.map(Node.NodeInfo, (info) => Layer.mergeAll(commands, routes(info.server.wsport)))
)
