/**
 * The handshake every node link starts with: mutual challenge–response over
 * the cluster secret, before any other frame is accepted.
 *
 * | step | frame                                   | direction         |
 * |------|-----------------------------------------|-------------------|
 * | 1    | `[4, name, parent, nonceD]`             | dialer → acceptor |
 * | 2    | `[11, acceptorName, nonceA, proofA]`    | acceptor → dialer |
 * | 3    | `[12, proofD]`                          | dialer → acceptor |
 * | 4    | `[5, name]` or `[6, reason, parent]`    | acceptor → dialer |
 *
 * `proofX = HMAC-SHA256(secret, ["hotaru-link/1", role X, nonceD, nonceA,
 * dialer name, acceptor name])`: each side proves it holds the secret over a
 * nonce the other side just drew (32 random bytes), so a recorded handshake
 * replays nowhere, and the role in the MAC stops a proof being reflected back.
 * Proofs are compared with `crypto.timingSafeEqual`. With no secret configured
 * the same exchange runs over a fixed public key: it then authenticates
 * nothing, which is why a rootport without a secret stays on loopback.
 *
 * A side lifts its link's pre-authentication limits (`unsafeAuthenticated`)
 * as soon as the peer proved itself, and before it sends anything the peer
 * could answer with a big frame.
 *
 * @internal
 */

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { MIN_SECRET_LENGTH } from "../config/limits.js"
import { reveal, type Secret } from "../config/secret.js"
import { RegistrationRefused } from "../rpc/wireErrors.js"
import type { Link } from "./link.js"
import { TransportError } from "./link.js"

export const F_HELLO = 4
export const F_WELCOME = 5
export const F_REFUSED = 6
export const F_CHALLENGE = 11
export const F_PROOF = 12

/** Bytes of each side's nonce. */
export const NONCE_BYTES = 32
/** Longest node name accepted in a handshake. */
const MAX_NAME = 256
/** The key of the handshake when the cluster has no secret (authenticates nothing). */
const NO_SECRET = "hotaru/link/no-secret"

/** Default deadline of a whole handshake. */
export const defaultHelloTimeout = Duration.seconds(5)

export type Role = "acceptor" | "dialer"

/** The proof of `role` over one handshake's nonces and names. */
export const proof = (
  secret: Secret | undefined,
  role: Role,
  dialerNonce: Uint8Array,
  acceptorNonce: Uint8Array,
  dialer: string,
  acceptor: string
): Buffer =>
  createHmac("sha256", secret === undefined ? NO_SECRET : reveal(secret))
    .update(
      JSON.stringify([
        "hotaru-link/1",
        role,
        Buffer.from(dialerNonce).toString("hex"),
        Buffer.from(acceptorNonce).toString("hex"),
        dialer,
        acceptor
      ])
    )
    .digest()

/** Constant-time check of a received proof. */
export const verify = (expected: Buffer, received: unknown): boolean =>
  received instanceof Uint8Array && received.length === expected.length && timingSafeEqual(expected, received)

/** A fresh nonce. */
export const nonce = (): Buffer => randomBytes(NONCE_BYTES)

const isName = (u: unknown): u is string => typeof u === "string" && u.length > 0 && u.length <= MAX_NAME
const isNonce = (u: unknown): u is Uint8Array => u instanceof Uint8Array && u.length === NONCE_BYTES

/** Why a registration was refused, as sent in frame 6. */
const refusedReasons: ReadonlyArray<RegistrationRefused["reason"]> = [
  "DuplicateName",
  "UnknownName",
  "WrongParent",
  "Unauthenticated"
]

/** The next frame, or None when the link closed first. */
const next = (link: Link) => Effect.option(link.incoming.take)

// ---------------------------------------------------------------------------
// Acceptor (Root)
// ---------------------------------------------------------------------------

/** How an accepted link's handshake ended. */
export type Accepted =
  | { readonly _tag: "Authenticated"; readonly name: string; readonly parent: string }
  /** The peer does not hold the secret (or sent a hello without a nonce); refused and closed. */
  | { readonly _tag: "Unauthenticated"; readonly name: string; readonly detail: string }
  /** Not a hello at all, or the link closed; closed. */
  | { readonly _tag: "BadHello"; readonly detail: string }
  /** The handshake did not finish within the deadline; closed. */
  | { readonly _tag: "Timeout" }

/**
 * Run the acceptor's side over a freshly accepted `link`, as node `name`.
 * Anything but `Authenticated` leaves the link closed.
 */
export const accept = (
  link: Link,
  options: {
    readonly name: string
    readonly secret: Secret | undefined
    readonly timeout: Duration.DurationInput
  }
): Effect.Effect<Accepted> => {
  const run = Effect.gen(function* () {
    const hello = yield* next(link)
    if (Option.isNone(hello)) return { _tag: "BadHello", detail: "closed before its hello" } as const
    const h = hello.value
    if (!Array.isArray(h) || h[0] !== F_HELLO || !isName(h[1]) || !isName(h[2])) {
      return { _tag: "BadHello", detail: "the first frame is not a hello" } as const
    }
    const dialer: string = h[1]
    const parent: string = h[2]
    if (!isNonce(h[3])) {
      return { _tag: "Unauthenticated", name: dialer, detail: "its hello has no nonce" } as const
    }
    const dialerNonce: Uint8Array = h[3]
    const acceptorNonce = nonce()
    link.unsafeSend([
      F_CHALLENGE,
      options.name,
      acceptorNonce,
      proof(options.secret, "acceptor", dialerNonce, acceptorNonce, dialer, options.name)
    ])
    const answer = yield* next(link)
    if (Option.isNone(answer)) {
      // a dialer that finds our proof wrong (another secret) hangs up here
      return {
        _tag: "Unauthenticated",
        name: dialer,
        detail: "closed without proving the cluster secret"
      } as const
    }
    const a = answer.value
    const expected = proof(options.secret, "dialer", dialerNonce, acceptorNonce, dialer, options.name)
    if (!Array.isArray(a) || a[0] !== F_PROOF || !verify(expected, a[1])) {
      return { _tag: "Unauthenticated", name: dialer, detail: "wrong proof of the cluster secret" } as const
    }
    link.unsafeAuthenticated()
    return { _tag: "Authenticated", name: dialer, parent } as const
  })
  return run.pipe(
    Effect.timeoutTo({
      duration: options.timeout,
      onSuccess: (result): Accepted => result,
      onTimeout: (): Accepted => ({ _tag: "Timeout" })
    }),
    Effect.tap((result) =>
      Effect.sync(() => {
        if (result._tag === "Unauthenticated") {
          link.unsafeSend([F_REFUSED, "Unauthenticated", options.name])
          link.unsafeClose()
        } else if (result._tag !== "Authenticated") {
          link.unsafeClose()
        }
      })
    )
  )
}

// ---------------------------------------------------------------------------
// Dialer (Remote)
// ---------------------------------------------------------------------------

/**
 * Run the dialer's side over a freshly dialed `link`: register as `name` at
 * the parent `parent`. Succeeds once welcomed; fails with the parent's
 * refusal, `Unauthenticated` when the parent cannot prove the secret, a
 * `TransportError` on a closed link or a malformed answer, or `onTimeout()`
 * past the deadline.
 */
export const dial = <E>(
  link: Link,
  options: {
    readonly name: string
    readonly parent: string
    readonly secret: Secret | undefined
    readonly timeout: Duration.DurationInput
    readonly onTimeout: () => E
  }
): Effect.Effect<void, RegistrationRefused | TransportError | E> => {
  const { name, parent, secret } = options
  const closed = Effect.flatMap(link.closed, (error) => Effect.fail(error))
  const bad = () => new TransportError({ reason: "BadFrame", address: link.peer })
  const refused = (reason: RegistrationRefused["reason"]) =>
    new RegistrationRefused({ node: name, parent, reason })
  /** Frame 6 as an error, or undefined when `frame` is not one. */
  const refusal = (frame: unknown): RegistrationRefused | TransportError | undefined => {
    if (!Array.isArray(frame) || frame[0] !== F_REFUSED) return undefined
    const reason = frame[1] as RegistrationRefused["reason"]
    return refusedReasons.includes(reason) ? refused(reason) : bad()
  }
  const run = Effect.gen(function* () {
    const dialerNonce = nonce()
    link.unsafeSend([F_HELLO, name, parent, dialerNonce])
    const challenge = yield* next(link)
    if (Option.isNone(challenge)) return yield* closed
    const c = challenge.value
    const refusedEarly = refusal(c)
    if (refusedEarly !== undefined) return yield* refusedEarly
    if (!Array.isArray(c) || c[0] !== F_CHALLENGE || !isName(c[1]) || !isNonce(c[2])) return yield* bad()
    const acceptor: string = c[1]
    const acceptorNonce: Uint8Array = c[2]
    if (!verify(proof(secret, "acceptor", dialerNonce, acceptorNonce, name, acceptor), c[3])) {
      link.unsafeClose()
      return yield* refused("Unauthenticated")
    }
    // the parent proved itself: its answers may be big from now on
    link.unsafeAuthenticated()
    link.unsafeSend([F_PROOF, proof(secret, "dialer", dialerNonce, acceptorNonce, name, acceptor)])
    const reply = yield* next(link)
    if (Option.isNone(reply)) return yield* closed
    const refusedLate = refusal(reply.value)
    if (refusedLate !== undefined) return yield* refusedLate
    if (!Array.isArray(reply.value) || reply.value[0] !== F_WELCOME) return yield* bad()
  })
  return run.pipe(
    Effect.timeoutFail({ duration: options.timeout, onTimeout: options.onTimeout }),
    Effect.tapError(() => link.close)
  )
}

/** Why a rootport may not bind `host` without a secret. */
export const noSecretMessage = (host: string): string =>
  `rootport binds ${host}, beyond loopback, and the cluster has no secret: set "secret" ` +
  `(${MIN_SECRET_LENGTH}+ characters) at the top of the config or env HOTARU_SECRET, the same on every ` +
  `node and the master, or bind the rootport to 127.0.0.1 ("bind")`
