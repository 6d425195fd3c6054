/**
 * The master's supervision tree: one supervised child per node the master runs itself (an OS
 * process, or an in-process node), each incarnation watched through its master link (it must
 * register within the start timeout, and a link down past the heartbeat grace ends it); the
 * ordered stop of every node (the agents stopping theirs meanwhile); and, under
 * `supervisor.onFailed: "exit"`, the stop of everything when a node fails.
 *
 * @internal
 */
import { Deferred, Duration, Effect, Option, Ref, type Scope, Stream } from "effect"
import type * as HotaruConfig from "../../HotaruConfig.js"
import type { Supervisor, SupervisorError } from "../../NodeSupervisor.js"
import type { Root } from "../../Root.js"
import type { Agents } from "../cluster/agents.js"
import type { RestartFailed } from "./adminErrors.js"
import { stopOrder } from "./configTopology.js"
import { ready } from "./incarnation.js"
import { MasterError, NodeRunError } from "./masterErrors.js"
import type { NodePolicy } from "./nodePolicy.js"
import { type ProcessError, runNode } from "./process.js"

/** What the tree is made of. */
export interface TreeInput {
  readonly config: HotaruConfig.HotaruConfig
  readonly root: Root["Type"]
  readonly supervisor: Supervisor
  readonly agents: Agents
  readonly policy: NodePolicy
  /** The nodes the master runs itself. */
  readonly only: ReadonlyArray<string>
  /** The nodes it leaves to host agents. */
  readonly remote: ReadonlyArray<string>
  readonly startTimeout: Duration.Duration
  readonly heartbeatGrace: Duration.Duration
  /**
   * `process` mode: how a node process is spawned (`NAME` and `snapshotPath`, the config
   * snapshot it runs with, are appended to `args`). `in-process` mode: builds node `name` in the incarnation's scope and gives what
   * ends it (an admin `Stop`).
   */
  readonly run:
    | {
        readonly _tag: "process"
        readonly command: string
        readonly args: ReadonlyArray<string>
        readonly snapshotPath: string
        readonly cwd: string
        readonly env: Readonly<Record<string, string>>
      }
    | {
        readonly _tag: "in-process"
        readonly build: (
          name: string
        ) => Effect.Effect<Effect.Effect<never, NodeRunError>, NodeRunError, Scope.Scope>
      }
}

/** The running tree. */
export interface Tree {
  /** Stop every node in order (once; later calls wait for the first), then complete `awaitStop`. */
  readonly stop: Effect.Effect<void>
  readonly awaitStop: Effect.Effect<void, MasterError>
  /** Restart one node now, with its restart count and intensity reset (or by its agent). */
  readonly restart: (name: string) => Effect.Effect<void, SupervisorError | RestartFailed>
}

/** Start a child per node of `only`; the nodes stop (in order) when the scope closes. */
export const make = (input: TreeInput): Effect.Effect<Tree, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { config, root, supervisor, agents, policy, only, remote, startTimeout, heartbeatGrace } = input
    const grace = policy.grace
    const stopped = yield* Deferred.make<void, MasterError>()
    const failure = yield* Ref.make(Option.none<MasterError>())
    const stopping = yield* Deferred.make<void>()

    /** Fails when the node's master link, once up, stays down past the grace. */
    const watchLink = (name: string) =>
      Effect.gen(function* () {
        yield* root.awaitChild(name).pipe(
          Effect.timeoutFail({
            duration: startTimeout,
            onTimeout: () =>
              new NodeRunError({
                reason: "StartTimeout",
                node: name,
                message: `did not register with the master within ${Duration.format(startTimeout)}`
              })
          })
        )
        yield* ready
        return yield* root.changes.pipe(
          Stream.filter((e) => e.name === name && e._tag === "Left"),
          Stream.mapEffect(() =>
            root.awaitChild(name).pipe(
              Effect.timeoutFail({
                duration: heartbeatGrace,
                onTimeout: () =>
                  new NodeRunError({
                    reason: "HeartbeatLost",
                    node: name,
                    message: "stopped answering heartbeats"
                  })
              })
            )
          ),
          Stream.runDrain,
          Effect.zipRight(Effect.never)
        )
      })

    const run = input.run
    const incarnation = (name: string): Effect.Effect<void, NodeRunError | ProcessError, Scope.Scope> =>
      run._tag === "process"
        ? Effect.raceFirst(
            runNode({
              name,
              command: run.command,
              args: [...run.args, name, run.snapshotPath],
              cwd: run.cwd,
              env: run.env,
              grace
            }),
            watchLink(name)
          )
        : Effect.flatMap(run.build(name), (asked) => Effect.raceFirst(asked, watchLink(name)))

    const { onFailed, retryFailed } = policy
    for (const name of only) {
      yield* supervisor
        .start({
          name,
          run: incarnation(name),
          awaitReady: true,
          intensity: policy.intensity,
          ...(retryFailed === undefined ? {} : { retryFailed })
        })
        .pipe(Effect.orDie)
    }

    const stop = Effect.gen(function* () {
      if (!(yield* Deferred.succeed(stopping, undefined)))
        return yield* Effect.ignore(Deferred.await(stopped))
      const order = stopOrder(config).filter((name) => only.includes(name))
      yield* Effect.log(
        `stopping ${order.join(", ") || "no node of its own"}${remote.length > 0 ? "; the agents stop theirs" : ""}`
      )
      const each = Duration.sum(grace, Duration.seconds(1))
      // the agents stop their own nodes (in the same order) while the master stops its own
      yield* Effect.all(
        [
          supervisor.stopAll(order, each),
          agents.stopAll(Duration.times(each, Math.max(1, remote.length) + 1))
        ],
        { concurrency: "unbounded", discard: true }
      )
      yield* Effect.log("every node stopped")
      const failed = yield* Ref.get(failure)
      yield* Option.isSome(failed)
        ? Deferred.fail(stopped, failed.value)
        : Deferred.succeed(stopped, undefined)
    }).pipe(Effect.uninterruptible)

    yield* Effect.addFinalizer(() => stop)

    // supervisor.onFailed "exit": the first failed node stops the tree and fails `awaitStop`
    if (onFailed === "exit") {
      yield* supervisor.changes.pipe(
        Stream.filter((c) => c.state === "failed"),
        Stream.take(1),
        Stream.runForEach((c) =>
          Effect.gen(function* () {
            const detail = `node ${c.name} failed (${c.lastExit ?? "?"}); supervisor.onFailed is "exit": stopping everything`
            yield* Effect.logError(detail)
            yield* Ref.set(failure, Option.some(new MasterError({ reason: "NodeFailed", detail })))
            yield* stop
          })
        ),
        Effect.forkScoped
      )
    }

    const restart = (name: string) =>
      agents.isRemote(name)
        ? agents.restart(name)
        : Effect.zipLeft(
            supervisor.reset(name, Duration.sum(grace, Duration.seconds(1))),
            Effect.log(`restarted ${name} by request`)
          )

    return { stop, awaitStop: Deferred.await(stopped), restart }
  })
