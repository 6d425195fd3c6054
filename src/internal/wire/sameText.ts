/**
 * A timing-safe comparison of two strings (tokens, secrets): the time taken does not depend on
 * where they differ.
 */
import { timingSafeEqual } from "node:crypto"

/** Whether `a` and `b` are the same text, compared in constant time for equal lengths. */
export const sameText = (a: string, b: string): boolean => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
