/**
 * Limits of the configuration that the machinery checks too (re-exported by
 * the public `HotaruConfig` module).
 *
 * @internal
 */

/**
 * The shortest cluster secret accepted (`secret` key or env HOTARU_SECRET).
 *
 * @since 0.1.0
 * @category utils
 */
export const MIN_SECRET_LENGTH = 16
