/**
 * A write-behind cached table (firefly's dbentrust `MAdmin`, done right).
 *
 * ```ts
 * const Account = Schema.Struct({ id: Schema.Int, username: Schema.String, password: Schema.String })
 * const accounts = yield* Repository.make({ table: "account", schema: Account, primaryKey: "id", autoIncrement: true })
 * const { value } = yield* accounts.insert({ username: "ann", password: "x" }) // value.id allocated
 * ```
 *
 * Design (all state that matters lives in the `Mem` backend, never in the node process):
 * - A row in the cache is `repo:<table>:row:<pk>` → `{ v: version, s: clean|dirty|deleted, d: row }`.
 *   Every write takes a per-row lock (`repo:<table>:lock:<pk>`, `Mem.add` = Redis `SET NX PX` /
 *   memcached `add`, with a ttl so a crashed holder frees it), and gives the row a new version.
 * - The dirty set is a journal in the cache: a row going from clean to dirty/deleted gets a slot
 *   `repo:<table>:j:<n>` (n from `incr repo:<table>:seq`), written under the row lock before the row.
 *   `repo:<table>:done` is the last slot flushed. Because this is in Redis/memcached, a node that
 *   dies loses nothing that reached the cache: any node with the repository flushes it.
 * - The flusher (a scoped fiber every `flushInterval`, and `flush()`, and once more on scope close)
 *   takes a lease `repo:<table>:flusher` (`add` with `leaseTtl`, default 30 s, renewed every third
 *   of it while a batch runs; a flusher that finds its lease lost stops) and a fencing token (`incr
 *   repo:<table>:fence`, moved past the token stored in the database if the cache lost it). It
 *   reads the rows of the next `batchSize` slots, decodes each with the table's Schema, and writes
 *   them in one transaction that first moves the table's row in `hotaru_fence` (`token`, `done`)
 *   forward only if no newer token wrote and `done` did not move: an older flusher (paused, cut
 *   off) is fenced out and can never write an older copy over a newer one. Then it marks each row
 *   clean only if its version did not change meanwhile (else it re-journals it).
 * - A batch the database refuses is retried row by row: a row refused for its content (constraint,
 *   type: `isRowError` classifies SQLite/MySQL/PostgreSQL codes) goes to `hotaru_dead_letter` with
 *   its error, is logged, counted (`deadLettered`) and leaves the cache; other errors (database
 *   down, connection lost) are retried with backoff and never drop a row.
 * - Clean rows carry a ttl of `idleTimeout` (renewed on every read), so idle rows leave the cache
 *   once flushed; dirty rows have no ttl.
 * - Concurrent writers: `update(versioned)` is a compare-and-set on the version (under the row
 *   lock): a stale version fails with `Conflict` and the caller re-reads and retries; `modify(pk, f)`
 *   applies `f` to the latest row under the lock, so neither of two concurrent changes is lost. The
 *   lock is re-asserted (compare-and-expire) right before the write and released by an atomic
 *   compare-and-delete, so a lock that expired during a slow load lets no second writer through.
 * - Durability (`durability`, default the cache's, default `"strict"`): on the in-process memory
 *   cache strict means write-through (the row is committed to the database before the write
 *   returns: nothing acknowledged is lost on SIGKILL); on Redis the start is refused unless AOF is
 *   on and `maxmemory-policy` is `noeviction`; memcached is refused. `"accept-loss"` is
 *   write-behind everywhere (a crash or an eviction may lose acknowledged writes, as in firefly).
 * - The journal sequence never goes backwards: it is seeded from the database's `done` at start
 *   and moved past `done` when a cache lost it.
 */
export {
  Conflict,
  DEAD_LETTER_TABLE,
  DeadLetters,
  FENCE_TABLE,
  type FlushResult,
  isRowError,
  make,
  makeDeadLetters,
  type Repository,
  RepositoryError,
  type RepositoryOptions,
  type RowSchema,
  type Versioned
} from "./internal/data/repository.js"
