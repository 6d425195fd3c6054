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
 *   takes a lease `repo:<table>:flusher` (`add` with a 60 s ttl, one batch at a time, so two
 *   flushers never write the same rows at once), reads the rows of the next `batchSize` slots,
 *   writes them in one transaction with parameterized SQL (upsert for dirty rows — idempotent if a
 *   flusher dies after its commit — and `DELETE … IN` for deleted ones), then marks each row clean
 *   only if its version did not change meanwhile (else it re-journals it), and advances `done`.
 * - Clean rows carry a ttl of `idleTimeout` (renewed on every read), so idle rows leave the cache
 *   once flushed; dirty rows have no ttl.
 * - Concurrent writers: `update(versioned)` is a compare-and-set on the version (under the row
 *   lock): a stale version fails with `Conflict` and the caller re-reads and retries; `modify(pk, f)`
 *   applies `f` to the latest row under the lock, so neither of two concurrent changes is lost.
 * - memcached may evict keys under memory pressure (it is a cache): an evicted dirty row or journal
 *   slot is a lost write, exactly as in firefly. Give memcached enough memory, or use Redis with
 *   `maxmemory-policy noeviction` (and AOF) when writes must survive.
 */
export {
  Conflict,
  DEAD_LETTER_TABLE,
  FENCE_TABLE,
  type FlushResult,
  isRowError,
  make,
  type Repository,
  RepositoryError,
  type RepositoryOptions,
  type Versioned
} from "./internal/repository.js"
