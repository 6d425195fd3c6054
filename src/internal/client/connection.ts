/**
 * One connection of the client (`Client.connect` / `connectWebSocket`): frames out, replies
 * matched to calls, pushes on a queue, the session's resume token kept.
 *
 * Replies are matched the firefly way: the server answers one connection's requests in order,
 * so a frame is the reply of the oldest waiting call with the same command id (or an error frame
 * naming that command); any other frame is a push. System frames (ids from `SYSTEM_COMMANDS`,
 * but the error frame) are the edge's own: a resume token, a resume's answer.
 *
 * What must outlive a connection for a resume lives in a `Link`: the calls waiting, the pushes,
 * the token, and the counts of frames sent and received (neither counts system frames). A
 * reconnecting client gives all its connections one link (`CurrentLink`); a plain one has its own.
 */
import { Deferred, Duration, Effect, Either, Option, Queue, type Scope, Stream } from "effect"
import { identity } from "effect/Function"
import type { Client, ConnectionOptions, Push } from "../../Client.js"
import type * as NetCommand from "../../NetCommand.js"
import * as BodyGuard from "../edge/bodyGuard.js"
import { decodeErrorBody, type ErrorBody } from "../edge/errorBody.js"
import * as Frame from "../edge/frame.js"
import { ClientError, CommandFailed } from "./errors.js"
import { CurrentLink, type Failed, failPending, type Link, makeLink, type Pending } from "./link.js"
import * as Resume from "./resume.js"
import type { OpenWire } from "./wire.js"

const closedError = (detail: string) => new ClientError({ reason: "Closed", detail })

/** Open one connection of the client. */
export const make = (
  options: ConnectionOptions,
  openWire: OpenWire
): Effect.Effect<Client, ClientError, Scope.Scope> =>
  Effect.gen(function* () {
    const frame = Frame.frameOptions(options.frame)
    const maxDepth = options.maxDepth ?? BodyGuard.DEFAULT_MAX_DEPTH
    const decodeOptions: NetCommand.DecodeOptions = { maxDepth }
    const defaultTimeout = options.timeout ?? Duration.seconds(30)
    const shared = yield* Effect.serviceOption(CurrentLink)
    const link: Link = Option.isSome(shared) ? shared.value : yield* makeLink(false)
    const resuming = link.keep && link.session !== undefined
    if (!resuming) {
      // a new session: calls left from a connection that was not resumed cannot be answered
      failPending(link, closedError("connection closed"))
      link.session = undefined
      link.received = 0
      link.sent = 0
    }
    const pending = link.pending
    const closed = yield* Deferred.make<void>()
    let closedReason: string | undefined
    /**
     * Until a resume is answered, frames count here (this connection's, not the session's); the
     * frames after its answer (the replay first) are the session's, counted from `atAnswer`.
     */
    let counting = !resuming
    let local = 0
    let atAnswer = 0

    // the wire may report bytes before it is returned: everything it calls is declared first
    let wire: { readonly destroy: () => void } | undefined
    let destroyed = false
    const destroy = () => {
      destroyed = true
      wire?.destroy()
    }
    const failAll = (reason: string, kind: "Closed" | "Decode" = "Closed") => {
      closedReason ??= reason
      const error = new ClientError({ reason: kind, detail: closedReason })
      // a session's calls wait for its resume
      failPending(link, error, kind === "Closed" && link.keep && link.session !== undefined)
      Deferred.unsafeDone(closed, Effect.void)
    }

    const decoder = new Frame.Decoder(frame)
    const onFrame = (command: number, body: Uint8Array): boolean => {
      if (command === Frame.SESSION_COMMAND) {
        link.session = Resume.decodeSession(body) ?? link.session
        return true
      }
      if (command !== Frame.RESUME_COMMAND) {
        if (counting) link.received++
        else local++
      } else if (!counting) {
        // the answer: what follows is counted at once (the replay is in the same bytes)
        counting = true
        atAnswer = link.received
      }
      const routed = routeFrame(pending, link.pushes, maxDepth, command, body)
      if (routed === undefined) return true
      // it answers some call, but which one is unknown: the connection cannot be trusted
      failAll(`bad error frame from server: ${routed}`, "Decode")
      destroy()
      return false
    }

    const socket = yield* Effect.mapError(
      openWire({
        onData: (chunk) => {
          const violation = decoder.push(chunk, onFrame)
          if (violation !== undefined) {
            failAll(`bad frame from server: ${violation.detail}`)
            destroy()
          }
        },
        onError: (message) => failAll(message),
        onClose: () => failAll("connection closed")
      }),
      (detail) => new ClientError({ reason: "Connect", detail })
    )

    wire = socket
    if (destroyed) socket.destroy()

    const isClosed = () => closedReason !== undefined || socket.isClosed()
    const write = (bytes: Uint8Array) =>
      Effect.suspend(() => {
        if (isClosed()) return Effect.fail(closedError(closedReason ?? "connection closed"))
        socket.write(bytes)
        return Effect.void
      })

    const request = (
      command: number,
      body: Uint8Array,
      opts?: { readonly timeout?: Duration.DurationInput }
    ) =>
      Effect.async<Uint8Array, ClientError | Failed>((resume) => {
        if (isClosed()) {
          resume(Effect.fail(closedError(closedReason ?? "connection closed")))
          return
        }
        // the server counts every request frame but a Resume (what a resume re-sends from)
        const system = command === Frame.RESUME_COMMAND
        const bytes = Frame.encode(frame, command, body)
        const entry: Pending = {
          command,
          index: system ? -1 : link.sent++,
          frame: system ? undefined : bytes,
          resolve: (r) => resume(r)
        }
        pending.push(entry)
        socket.write(bytes)
        return Effect.sync(() => {
          const i = pending.indexOf(entry)
          if (i >= 0) pending.splice(i, 1)
        })
      }).pipe(
        Effect.timeoutFail({
          duration: opts?.timeout ?? defaultTimeout,
          onTimeout: () => new ClientError({ reason: "Timeout", detail: `no reply to command ${command}` })
        })
      )

    if (resuming) {
      link.resume = Resume.resume(link, {
        request: (body) => request(Frame.RESUME_COMMAND, body),
        write: (bytes) => socket.write(bytes),
        settle: (ok) => {
          // refused (or no answer): this connection is a new session, counted from its start
          if (!ok) {
            link.received = local + (counting ? link.received - atAnswer : 0)
            link.sent = 0
          }
          counting = true
        }
      })
    } else {
      link.resume = undefined
    }

    return clientOf({
      request,
      write,
      link,
      decodeOptions,
      frame,
      closed: Deferred.await(closed),
      close: Effect.sync(() => socket.destroy())
    })
  })

/** What the public client of a connection is made of. */
interface ClientIo {
  readonly request: (
    command: number,
    body: Uint8Array,
    opts?: { readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<Uint8Array, ClientError | Failed>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, ClientError>
  readonly link: Link
  readonly decodeOptions: NetCommand.DecodeOptions
  readonly frame: Frame.FrameOptions
  readonly closed: Effect.Effect<void>
  readonly close: Effect.Effect<void>
}

/** The public client over a connection's request and write. */
const clientOf = (io: ClientIo): Client => {
  const { request, write, link, decodeOptions, frame } = io
  const callRaw = (
    command: number,
    body: Uint8Array,
    opts?: { readonly timeout?: Duration.DurationInput }
  ): Effect.Effect<Uint8Array, ClientError | CommandFailed> =>
    Effect.catchIf(request(command, body, opts), isFailed, (f) => Effect.fail(commandFailed(f.body)))

  const client: Client = {
    call: (command, value, opts) =>
      Effect.flatMap(encode(command, value), (body) =>
        Effect.flatMap(
          Effect.catchIf(request(command.id, body, opts), isFailed, (f) =>
            Effect.fail(declaredError(command, f.body))
          ),
          (reply) =>
            Either.mapLeft(
              command.decodeResponse(reply, decodeOptions),
              (e) => new ClientError({ reason: "Decode", detail: e.message })
            )
        )
      ),
    send: (command, request) =>
      Effect.flatMap(encode(command, request), (body) =>
        Effect.zipRight(
          write(Frame.encode(frame, command.id, body)),
          Effect.sync(() => {
            link.sent++
          })
        )
      ),
    callRaw,
    writeBytes: write,
    pushes: Stream.fromQueue(link.pushes),
    pushesOf: (command) => pushesOf(link.pushes, decodeOptions, command),
    closed: io.closed,
    close: io.close
  }
  return client
}

/** A request's body, or why it does not encode. */
const encode = <Req>(
  command: {
    readonly id: number
    readonly encodeRequest: (r: Req) => Either.Either<Uint8Array, NetCommand.BodyError>
  },
  request: Req
) =>
  Either.mapLeft(
    command.encodeRequest(request),
    (e) => new ClientError({ reason: "Encode", detail: e.message })
  )

/** Typed pushes of one command from `pushes`; bodies that do not decode are dropped and logged. */
export const pushesOf = <Name extends string, Req, Res, Err>(
  pushes: Queue.Queue<Push>,
  decodeOptions: NetCommand.DecodeOptions,
  command: NetCommand.Command<Name, Req, Res, Err>
): Stream.Stream<Res> =>
  Stream.fromQueue(pushes).pipe(
    Stream.filter((p) => p.command === command.id),
    Stream.mapEffect((p) =>
      Either.match(command.decodeResponse(p.body, decodeOptions), {
        onLeft: (e) => Effect.as(Effect.logWarning(`dropped push: ${e.message}`), Option.none()),
        onRight: (value) => Effect.succeed(Option.some(value))
      })
    ),
    Stream.filterMap(identity)
  )

/**
 * One frame from the server: the reply of the oldest pending call of its command (an error frame
 * names the command it answers), else a push. Returns the problem of an error frame that does not
 * decode (which call it answers is then unknown), `undefined` otherwise.
 */
const routeFrame = (
  pending: Array<Pending>,
  pushes: Queue.Queue<Push>,
  maxDepth: number,
  command: number,
  body: Uint8Array
): string | undefined => {
  if (command === Frame.ERROR_COMMAND) {
    const decoded = decodeError(body, maxDepth)
    if (Either.isLeft(decoded)) return decoded.left
    const index = pending.findIndex((p) => p.command === decoded.right.command)
    if (index >= 0) {
      const [p] = pending.splice(index, 1)
      p!.resolve(Either.left({ body: decoded.right }))
      return undefined
    }
  } else {
    const index = pending.findIndex((p) => p.command === command)
    if (index >= 0) {
      const [p] = pending.splice(index, 1)
      p!.resolve(Either.right(body))
      return undefined
    }
  }
  Queue.unsafeOffer(pushes, { command, body })
  return undefined
}

export const isFailed = (e: ClientError | Failed): e is Failed => !(e instanceof ClientError)

const commandFailed = (e: ErrorBody) =>
  new CommandFailed({ command: e.command, error: e.error, detail: e.message, tag: e.tag })

/**
 * The failure of a call answered by error frame `e`: the command's declared error when the frame
 * carries one (`value`), `CommandFailed` otherwise, and `ClientError` (`Decode`) when `value` is
 * not one of the errors the command declares.
 */
const declaredError = <Err>(
  command: Pick<NetCommand.Command<string, unknown, unknown, Err>, "error" | "decodeError">,
  e: ErrorBody
): Err | ClientError | CommandFailed => {
  if (!("value" in e) || command.error === undefined) return commandFailed(e)
  return Either.match(command.decodeError(e.value), {
    onLeft: (error) => new ClientError({ reason: "Decode", detail: error.message }),
    onRight: (error) => error
  })
}

const utf8 = new TextDecoder("utf-8")

/** The longest text of a bad error frame quoted in a `ClientError`. */
const MAX_QUOTE = 200

/** Decode an error frame's body; never throws. Nesting is checked before `JSON.parse`. */
const decodeError = (body: Uint8Array, maxDepth: number): Either.Either<ErrorBody, string> => {
  try {
    if (BodyGuard.jsonTooDeep(body, maxDepth)) return Either.left(`JSON nested deeper than ${maxDepth}`)
    const json: unknown = JSON.parse(utf8.decode(body))
    return Either.mapLeft(decodeErrorBody(json), (e) => {
      const text = e.message
      return text.length > MAX_QUOTE ? `${text.slice(0, MAX_QUOTE)}…` : text
    })
  } catch (e) {
    const text = e instanceof Error ? e.message : "not JSON"
    return Either.left(text.length > MAX_QUOTE ? `${text.slice(0, MAX_QUOTE)}…` : text)
  }
}
