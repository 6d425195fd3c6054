/**
 * The cluster secret as it travels inside hotaru: `Redacted`, so no log, error or inspection
 * prints it; only the HMAC of a handshake reads its value.
 */
import * as Redacted from "effect/Redacted"

/** The cluster secret. */
export type Secret = Redacted.Redacted<string>

/** A secret given as text or already redacted, redacted (undefined stays undefined). */
export const secretOf = (secret: string | Secret | undefined): Secret | undefined =>
  secret === undefined ? undefined : Redacted.isRedacted(secret) ? secret : Redacted.make(secret)

/** The text of a secret, for the HMAC only. */
export const reveal = (secret: Secret): string => Redacted.value(secret)
