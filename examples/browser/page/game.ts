/// <reference lib="dom" />
/**
 * The page's game, bundled for the browser by the front (`/game.js`): the typed client over
 * WebSocket, reconnecting (and logging in again) whenever the connection drops; the board as a
 * typed push stream. `?ws=ws://host:port/` overrides where it connects.
 */
import { Effect, Stream } from "effect"
import * as Client from "hotaru-rt/client"
import { type Board, BoardPush, Join, Tap } from "../protocol.js"

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

const log = (line: string) => {
  const box = el("log")
  box.textContent = `${new Date().toISOString().slice(11, 23)} ${line}\n${box.textContent ?? ""}`.slice(
    0,
    4000
  )
}

const status = (state: string, text: string) => {
  const s = el("status")
  s.dataset.state = state
  s.textContent = text
}

const showBoard = (board: Board, me: string) => {
  const body = el("board")
  body.replaceChildren(
    ...board.map((p) => {
      const row = document.createElement("tr")
      if (p.name === me) row.className = "me"
      for (const text of [p.name, String(p.taps)]) {
        const cell = document.createElement("td")
        cell.textContent = text // names are checked by the server's Schema, and never HTML here
        row.append(cell)
      }
      return row
    })
  )
}

const wsUrl = Effect.promise(async () => {
  const given = new URLSearchParams(location.search).get("ws")
  if (given !== null) return given
  const { wsport } = (await (await fetch("/hotaru.json")).json()) as { wsport: number | null }
  return `ws://${location.hostname}:${wsport}/`
})

const play = (me: string) =>
  Effect.gen(function* () {
    const url = yield* wsUrl
    const client = yield* Client.reconnecting(Client.connectWebSocket({ url, timeout: "5 seconds" }), {
      // a new connection resumes the session (the front has `resume` on); when it cannot, it
      // logs in again (the server's board keeps the taps)
      onConnect: (c) => Effect.flatMap(c.call(Join, me), (board) => Effect.sync(() => showBoard(board, me)))
    })
    yield* Effect.forkScoped(
      Stream.runForEach(client.events, (e) =>
        Effect.sync(() => {
          if (e._tag === "Connected") status("connected", `connected (#${e.connection})`)
          else if (e._tag === "Resumed") status("connected", `resumed (#${e.connection})`)
          else if (e._tag === "Disconnected") status("disconnected", "reconnecting…")
          else status("disconnected", "gave up")
          log(e._tag === "GaveUp" ? "gave up" : `${e._tag} #${e.connection}`)
        })
      )
    )
    yield* Effect.forkScoped(
      Stream.runForEach(client.pushesOf(BoardPush), (board) => Effect.sync(() => showBoard(board, me)))
    )
    const tap = el<HTMLButtonElement>("tap")
    tap.disabled = false
    tap.onclick = () =>
      Effect.runFork(
        client.call(Tap, null).pipe(
          Effect.match({
            onSuccess: (n) => {
              el("mine").textContent = `you: ${n}`
            },
            onFailure: (e) => log(`tap failed: ${e.message}`)
          })
        )
      )
    return yield* Effect.never
  })

el<HTMLFormElement>("join").onsubmit = (event) => {
  event.preventDefault()
  const me = el<HTMLInputElement>("name").value
  el<HTMLInputElement>("name").disabled = true
  status("connecting", "connecting…")
  const fiber = Effect.runFork(Effect.scoped(play(me)))
  fiber.addObserver((exit) => log(`game ended: ${exit._tag}`))
}
