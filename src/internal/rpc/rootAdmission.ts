/**
 * How a Root admits the links its children dial: the handshake (at most
 * `MAX_PENDING_HELLOS` under way), the checks of the child's names, the
 * counters of the links turned away (`root.stats`, also the Effect counter
 * `hotaru_root_links_turned_away` by `node` and `reason`), and a warning about
 * them at most every 10 s. Per link, not per message.
 *
 * @internal
 */

import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type { RootStats } from "../../Root.js"
import type { Secret } from "../config/secret.js"
import * as Handshake from "../link/handshake.js"
import type { Link } from "../link/link.js"
import type { RegistrationRefused } from "./wireErrors.js"

/** Handshakes a Root runs at once; more new links are closed at once. */
const MAX_PENDING_HELLOS = 256
/** At most one warning per this many milliseconds about turned-away links. */
const LOG_INTERVAL_MILLIS = 10_000

/** What admission needs of the Root's options. */
export interface AdmissionOptions {
  /** The Root's name; children must name it as their parent. */
  readonly name: string
  readonly secret: Secret | undefined
  readonly helloTimeout: Duration.DurationInput
  /** Allowed child names (a list, or a test of the name); undefined accepts any name. */
  readonly accept: ReadonlyArray<string> | ((name: string) => boolean) | undefined
}

/** The admission of one Root's links. */
export interface Admission {
  /**
   * Run the handshake on `link` and check the child's names: the child's name
   * when it is admitted (reserved until `release`), undefined when the link
   * was turned away (refused, counted, reported; the caller closes it).
   */
  readonly admit: (link: Link) => Effect.Effect<string | undefined>
  /** The admitted child's session ended: its name is free again. */
  readonly release: (name: string) => void
  /** Counters of the links turned away so far. */
  readonly stats: Effect.Effect<RootStats>
}

/** The counter of the links a Root turned away, by `node` (the Root) and `reason` (a `RootStats` key). */
export const turnedAway = Metric.counter("hotaru_root_links_turned_away", {
  description: "links a Root turned away, by node and reason (see Root.RootStats)",
  incremental: true
})

const acceptsOf = (accept: AdmissionOptions["accept"]): ((name: string) => boolean) =>
  accept === undefined
    ? () => true
    : typeof accept === "function"
      ? accept
      : (
          (set) => (name: string) =>
            set.has(name)
        )(new Set(accept))

export const make = (options: AdmissionOptions): Admission => {
  const accepts = acceptsOf(options.accept)
  /** Names held by a live (or registering) child. */
  const reserved = new Set<string>()
  const stats: { -readonly [K in keyof RootStats]: number } = {
    unauthenticated: 0,
    helloTimeouts: 0,
    badHellos: 0,
    refused: 0,
    overloaded: 0
  }
  const byNode = Metric.tagged(turnedAway, "node", options.name)
  const metrics: { readonly [K in keyof RootStats]: Metric.Metric.Counter<number> } = {
    unauthenticated: Metric.tagged(byNode, "reason", "unauthenticated"),
    helloTimeouts: Metric.tagged(byNode, "reason", "helloTimeouts"),
    badHellos: Metric.tagged(byNode, "reason", "badHellos"),
    refused: Metric.tagged(byNode, "reason", "refused"),
    overloaded: Metric.tagged(byNode, "reason", "overloaded")
  }
  const count = (what: keyof RootStats): Effect.Effect<void> =>
    Effect.suspend(() => {
      stats[what]++
      return Metric.increment(metrics[what])
    })
  let pendingHellos = 0
  let lastReport = Number.NEGATIVE_INFINITY
  let unreported = 0

  /** Log a turned-away link, at most once per interval (a flood cannot flood the log). */
  const report = (peer: string, what: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      if (now - lastReport < LOG_INTERVAL_MILLIS) {
        unreported++
        return Effect.void
      }
      const more = unreported > 0 ? ` (and ${unreported} more since the last report)` : ""
      lastReport = now
      unreported = 0
      return Effect.logWarning(`rootport of "${options.name}": turned away ${peer}: ${what}${more}`)
    })

  const refuse = (link: Link, reason: RegistrationRefused["reason"]) =>
    Effect.zipRight(
      count("refused"),
      Effect.sync(() => {
        link.unsafeSend([Handshake.F_REFUSED, reason, options.name])
        link.unsafeClose()
      })
    )

  const admit = (link: Link): Effect.Effect<string | undefined> =>
    Effect.gen(function* () {
      if (pendingHellos >= MAX_PENDING_HELLOS) {
        yield* count("overloaded")
        yield* report(link.peer, `${MAX_PENDING_HELLOS} handshakes already under way`)
        yield* link.close
        return undefined
      }
      pendingHellos++
      const hello = yield* Handshake.accept(link, {
        name: options.name,
        secret: options.secret,
        timeout: options.helloTimeout
      }).pipe(Effect.ensuring(Effect.sync(() => pendingHellos--)))
      switch (hello._tag) {
        case "Unauthenticated":
          yield* count("unauthenticated")
          yield* report(link.peer, `Unauthenticated as "${hello.name}": ${hello.detail}`)
          return undefined
        case "Timeout":
          yield* count("helloTimeouts")
          yield* report(link.peer, "no handshake within the deadline")
          return undefined
        case "BadHello":
          yield* count("badHellos")
          yield* report(link.peer, hello.detail)
          return undefined
      }
      const { name, parent } = hello
      if (parent !== options.name) return yield* Effect.as(refuse(link, "WrongParent"), undefined)
      if (!accepts(name)) return yield* Effect.as(refuse(link, "UnknownName"), undefined)
      if (reserved.has(name)) return yield* Effect.as(refuse(link, "DuplicateName"), undefined)
      reserved.add(name)
      return name
    })

  return {
    admit,
    release: (name) => void reserved.delete(name),
    stats: Effect.sync(() => ({ ...stats }))
  }
}
