/**
 * Cluster secrets for tests: one that the config accepts (at least `MIN_SECRET_LENGTH`
 * characters) and one of the same length that is wrong.
 */

/** The cluster secret the tests' clusters share (config `secret` or `HOTARU_SECRET`). */
export const CLUSTER_SECRET = "a cluster secret of some length"

/** Long enough to be accepted, but not `CLUSTER_SECRET`: a rogue's. */
export const WRONG_SECRET = "the wrong secret, long enough"
