/**
 * A shard's new owner must see the messages its last owner had read but not processed.
 *
 * The SQL message storage hides a message read in the last 10 minutes (`last_read`) from every
 * storage read, so that two reads do not deliver it twice; when a runner acquires shards, the
 * cluster clears `last_read` for them (`MessageStorage.resetShards`) and reads. It runs that reset
 * under `Effect.ignore` (and a timeout of one lock interval): on MariaDB the reset's `UPDATE` can
 * lose a deadlock against the same runner's storage read (`SELECT … FOR UPDATE` over the same
 * shards on another connection), and then the messages the dead or stopped runner had read stay
 * hidden until some later owner of the shard resets it: their callers wait that long (seen in
 * W7/W8 as rooms answering only when the restarted runner took its shards back, or not at all).
 *
 * This wraps the storage so that a failed reset is retried at once, a few times, within the
 * cluster's timeout. Resetting twice is harmless (it only makes unprocessed messages readable;
 * the entity manager skips a request it is already processing).
 *
 * @internal
 */
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"

const retry = Schedule.intersect(Schedule.recurs(8), Schedule.spaced("25 millis"))

/** `storage` (a layer of it), with `resetShards` retried on failure. */
export const retrying = <E, R>(
  storage: Layer.Layer<MessageStorage.MessageStorage, E, R>
): Layer.Layer<MessageStorage.MessageStorage, E, R> =>
  Layer.effect(
    MessageStorage.MessageStorage,
    Effect.map(MessageStorage.MessageStorage, (s) =>
      MessageStorage.MessageStorage.of({
        ...s,
        resetShards: (shardIds) => {
          const ids = [...shardIds]
          return s.resetShards(ids).pipe(
            Effect.tapError((e) =>
              Effect.logDebug(`resetShards failed (${e.message}), retrying`, { shards: ids.length })
            ),
            Effect.retry(retry)
          )
        }
      })
    )
  ).pipe(Layer.provide(storage))
