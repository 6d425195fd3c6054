/**
 * Secrets as they travel inside hotaru (the cluster secret, the admin token): `Redacted`, so no
 * log, error or inspection prints them; only the compare, the HMAC and a child's environment read
 * their value.
 */
import * as Redacted from "effect/Redacted"

/** A secret. */
export type Secret = Redacted.Redacted<string>

/** A secret given as text or already redacted, redacted (undefined stays undefined). */
export const secretOf = <S extends string | Secret | undefined>(
  secret: S
): S extends undefined ? undefined : Secret =>
  (secret === undefined ? undefined : Redacted.isRedacted(secret) ? secret : Redacted.make(secret)) as never

/** The text of a secret: for the compare, the HMAC or a child's environment only. */
export const reveal = (secret: Secret): string => Redacted.value(secret)
