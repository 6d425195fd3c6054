/**
 * `hotaru/testing`: whole topologies in one process, for `@effect/vitest`.
 *
 * @since 0.1.0
 */
export * as TestCluster from "./TestCluster.js"
