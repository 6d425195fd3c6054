import { describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  Clock,
  Duration,
  Effect,
  Fiber,
  Layer,
  Option,
  Ref,
  Schedule,
  Stream,
  TestClock
} from "effect"
import * as NodeSupervisor from "../src/NodeSupervisor.js"

/** Lets forked fibers run without moving the TestClock. */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

const adjust = (millis: number) => Effect.zipRight(TestClock.adjust(`${millis} millis`), settle)

const statusOf = (sup: NodeSupervisor.Supervisor, name: string) =>
  Effect.map(sup.status, (all) => all.find((c) => c.name === name)!)

/** A child that fails right away, counting its incarnations. */
const crasher = (runs: Ref.Ref<number>) =>
  Effect.zipRight(
    Ref.update(runs, (n) => n + 1),
    Effect.fail("boom")
  )

/** A child that runs until stopped, logging its stop into `log`. */
const sleeper = (name: string, log: Ref.Ref<ReadonlyArray<string>>) =>
  Effect.zipRight(
    Effect.addFinalizer(() => Ref.update(log, (l) => [...l, name])),
    Effect.never
  )

describe("Supervisor", () => {
  it.scoped("restarts a crashed child with a growing backoff", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      const runs = yield* Ref.make(0)
      yield* sup.start({
        name: "c",
        run: crasher(runs),
        backoff: { base: "100 millis", max: "1 second" },
        intensity: { maxRestarts: 10, within: "1 minute" }
      })
      yield* settle
      expect(yield* Ref.get(runs)).toBe(1)
      const s1 = yield* statusOf(sup, "c")
      expect(s1.state).toBe("backoff")
      expect(s1.restarts).toBe(1)
      expect(s1.lastExit).toBe("failed: boom")

      // delays: 100, 200, 400, 800, then capped at 1000
      let expected = 1
      for (const delay of [100, 200, 400, 800, 1000, 1000]) {
        yield* adjust(delay - 1)
        expect(yield* Ref.get(runs)).toBe(expected)
        yield* adjust(1)
        expected++
        expect(yield* Ref.get(runs)).toBe(expected)
      }
      expect((yield* statusOf(sup, "c")).restarts).toBe(7)
    })
  )

  it.scoped("a child that stayed up longer than the window restarts after the base delay again", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      const runs = yield* Ref.make(0)
      // crashes at once twice, then runs 10 s before crashing again
      const run = Effect.gen(function* () {
        const n = yield* Ref.updateAndGet(runs, (x) => x + 1)
        if (n >= 3) yield* Effect.sleep("10 seconds")
        return yield* Effect.fail("boom")
      })
      yield* sup.start({
        name: "c",
        run,
        backoff: { base: "100 millis" },
        intensity: { within: "5 seconds" }
      })
      yield* settle
      yield* adjust(100) // run 2
      yield* adjust(200) // run 3, lives 10 s
      expect(yield* Ref.get(runs)).toBe(3)
      yield* adjust(10_000) // crash; both previous restarts are out of the window
      expect((yield* statusOf(sup, "c")).state).toBe("backoff")
      yield* adjust(100)
      expect(yield* Ref.get(runs)).toBe(4)
      expect((yield* statusOf(sup, "c")).state).toBe("running")
    })
  )

  it.scoped("more than maxRestarts within the window: failed, and no more restarts", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      const runs = yield* Ref.make(0)
      yield* sup.start({
        name: "c",
        run: crasher(runs),
        backoff: { base: "10 millis", max: "10 millis" },
        intensity: { maxRestarts: 3, within: "10 seconds" }
      })
      yield* settle
      for (let i = 0; i < 5; i++) yield* adjust(10)
      expect(yield* Ref.get(runs)).toBe(4)
      const s = yield* statusOf(sup, "c")
      expect(s.state).toBe("failed")
      expect(s.restarts).toBe(3)
      expect(s.lastExit).toBe("failed: boom")
      yield* adjust(60_000)
      expect(yield* Ref.get(runs)).toBe(4)

      // a manual restart brings it back
      yield* sup.restart("c")
      yield* settle
      expect(yield* Ref.get(runs)).toBe(5)
      const again = yield* statusOf(sup, "c")
      expect(again.state).toBe("backoff")
      expect(again.restarts).toBe(5)
    })
  )

  it.scoped("stop, restart, pid reports and errors", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      yield* sup.start({
        name: "a",
        run: Effect.zipRight(NodeSupervisor.reportPid(4242), sleeper("a", log))
      })
      yield* settle
      const s1 = yield* statusOf(sup, "a")
      expect(s1.state).toBe("running")
      expect(s1.pid).toBe(4242)
      expect(s1.startedAt).toEqual(Option.some(0))

      const dup = yield* Effect.flip(sup.start({ name: "a", run: Effect.never }))
      expect(dup.reason).toBe("AlreadyStarted")
      const missing = yield* Effect.flip(sup.stop("nope"))
      expect(missing.reason).toBe("UnknownChild")

      yield* adjust(5000)
      yield* sup.stop("a")
      const s2 = yield* statusOf(sup, "a")
      expect(s2.state).toBe("stopped")
      expect(s2.pid).toBeUndefined()
      expect(s2.lastExit).toBe("stopped")
      expect(yield* Ref.get(log)).toEqual(["a"])

      yield* sup.restart("a")
      yield* settle
      const s3 = yield* statusOf(sup, "a")
      expect(s3.state).toBe("running")
      expect(s3.restarts).toBe(1)
      expect(s3.startedAt).toEqual(Option.some(5000))

      // restart of a running child: stops the old incarnation, starts a new one
      yield* sup.restart("a")
      yield* settle
      expect(yield* Ref.get(log)).toEqual(["a", "a"])
      expect((yield* statusOf(sup, "a")).state).toBe("running")
      expect((yield* statusOf(sup, "a")).restarts).toBe(2)

      // a stopped name may be started again with a new spec
      yield* sup.stop("a")
      yield* sup.start({ name: "a", run: Effect.never })
      yield* settle
      expect((yield* statusOf(sup, "a")).state).toBe("running")
    })
  )

  it.scoped("awaitReady: starting until the incarnation says ready", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      yield* sup.start({
        name: "n",
        awaitReady: true,
        run: Effect.zipRight(Effect.zipRight(Effect.sleep("1 second"), NodeSupervisor.ready), Effect.never)
      })
      yield* settle
      expect((yield* statusOf(sup, "n")).state).toBe("starting")
      yield* adjust(1000)
      expect((yield* statusOf(sup, "n")).state).toBe("running")
    })
  )

  it.scoped("runLayer: an in-process node layer, rebuilt after a failed build, released on stop", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const builds = yield* Ref.make(0)
      const NodeLive = Layer.scopedDiscard(
        Effect.gen(function* () {
          const n = yield* Ref.updateAndGet(builds, (x) => x + 1)
          yield* Effect.sleep("1 second") // a slow start
          if (n === 1) return yield* Effect.fail("port in use")
          yield* Effect.addFinalizer(() => Ref.update(log, (l) => [...l, `released ${n}`]))
        })
      )
      yield* sup.start({
        name: "gate",
        awaitReady: true,
        run: NodeSupervisor.runLayer(NodeLive),
        backoff: { base: "1 second" }
      })
      yield* settle
      expect((yield* statusOf(sup, "gate")).state).toBe("starting")
      yield* adjust(1000) // first build fails
      const s1 = yield* statusOf(sup, "gate")
      expect(s1.state).toBe("backoff")
      expect(s1.lastExit).toBe("failed: port in use")
      yield* adjust(1000) // restarted, building
      expect((yield* statusOf(sup, "gate")).state).toBe("starting")
      yield* adjust(1000)
      expect((yield* statusOf(sup, "gate")).state).toBe("running")
      yield* sup.stop("gate")
      expect(yield* Ref.get(log)).toEqual(["released 2"])
    })
  )

  it.scoped("stopAll stops in the given order, then the rest; a stuck child costs at most its grace", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      for (const name of ["a", "b", "c", "d"]) yield* sup.start({ name, run: sleeper(name, log) })
      yield* sup.start({
        name: "stuck",
        run: Effect.zipRight(
          Effect.addFinalizer(() =>
            Effect.zipRight(
              Effect.sleep("10 seconds"),
              Ref.update(log, (l) => [...l, "stuck"])
            )
          ),
          Effect.never
        )
      })
      yield* settle
      const stopping = yield* Effect.fork(sup.stopAll(["c", "stuck", "a", "nope", "b"], "2 seconds"))
      yield* settle
      expect(yield* Ref.get(log)).toEqual(["c"])
      yield* adjust(2000)
      yield* Fiber.join(stopping)
      // "d" was not listed: stopped after the listed ones
      expect(yield* Ref.get(log)).toEqual(["c", "a", "b", "d"])
      const all = yield* sup.status
      expect(all.map((c) => c.state)).toEqual(["stopped", "stopped", "stopped", "stopped", "stopped"])
      expect(all.find((c) => c.name === "stuck")!.lastExit).toContain("did not stop within")
      // the stuck one finishes in the background
      yield* adjust(8000)
      expect(yield* Ref.get(log)).toEqual(["c", "a", "b", "d", "stuck"])
    })
  )

  it.scoped("changes: current status first, then every change", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      yield* sup.start({ name: "x", run: Effect.never })
      yield* settle
      const runs = yield* Ref.make(0)
      const collected = yield* Effect.fork(Stream.runCollect(Stream.take(sup.changes, 5)))
      yield* settle
      yield* sup.start({ name: "y", run: crasher(runs), backoff: { base: "1 second" } })
      yield* settle
      yield* adjust(1000)
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collected))
      expect(events.map((e) => `${e.name}:${e.state}:${e.restarts}`)).toEqual([
        "x:running:0",
        "y:starting:0",
        "y:running:0",
        "y:backoff:1",
        "y:running:1"
      ])
    })
  )

  it.scoped("retryFailed: a failed child is failed-retrying, then started again on the schedule", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      const runs = yield* Ref.make(0)
      yield* sup.start({
        name: "c",
        run: crasher(runs),
        backoff: { base: "100 millis", max: "100 millis" },
        intensity: { maxRestarts: 1, within: "10 seconds" },
        retryFailed: Schedule.spaced("30 seconds")
      })
      yield* settle
      yield* adjust(100) // run 2 fails: over the intensity
      expect(yield* Ref.get(runs)).toBe(2)
      const failed = yield* statusOf(sup, "c")
      expect(failed.state).toBe("failed-retrying")
      expect(failed.lastExit).toBe("failed: boom")
      yield* adjust(29_999)
      expect(yield* Ref.get(runs)).toBe(2)
      expect((yield* statusOf(sup, "c")).state).toBe("failed-retrying")
      yield* adjust(1) // the retry: a fresh intensity window, so one more restart before failing again
      expect(yield* Ref.get(runs)).toBe(3)
      expect((yield* statusOf(sup, "c")).state).toBe("backoff")
      yield* adjust(100)
      expect(yield* Ref.get(runs)).toBe(4)
      expect((yield* statusOf(sup, "c")).state).toBe("failed-retrying")
      yield* adjust(30_000)
      expect(yield* Ref.get(runs)).toBe(5)
      // stopping a failed-retrying child ends its retries
      yield* adjust(100)
      yield* sup.stop("c")
      expect((yield* statusOf(sup, "c")).state).toBe("stopped")
      yield* adjust(120_000)
      expect(yield* Ref.get(runs)).toBe(6)
    })
  )

  it.scoped("retryFailed: a schedule that ends leaves the child failed", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      const runs = yield* Ref.make(0)
      yield* sup.start({
        name: "c",
        run: crasher(runs),
        intensity: { maxRestarts: 0 },
        retryFailed: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(1)))
      })
      yield* settle
      expect((yield* statusOf(sup, "c")).state).toBe("failed-retrying")
      yield* adjust(1000)
      expect(yield* Ref.get(runs)).toBe(2)
      expect((yield* statusOf(sup, "c")).state).toBe("failed")
      yield* adjust(60_000)
      expect(yield* Ref.get(runs)).toBe(2)
    })
  )

  it("slowRetry: delays double from base, capped at max, jittered down to half", () => {
    const delays = Chunk.toReadonlyArray(
      Effect.runSync(
        Schedule.run(
          Schedule.delays(NodeSupervisor.slowRetry("30 seconds", "5 minutes")),
          0,
          Array(10).fill(0)
        )
      )
    ).map(Duration.toMillis)
    expect(delays).toHaveLength(10)
    delays.forEach((d, i) => {
      const full = Math.min(30_000 * 2 ** i, 300_000)
      expect(d).toBeGreaterThanOrEqual(full * 0.5)
      expect(d).toBeLessThanOrEqual(full)
    })
    expect(Math.max(...delays)).toBeLessThanOrEqual(300_000)
  })

  it.scoped("reset: a failed child starts again now, its restart count back to 0", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      const runs = yield* Ref.make(0)
      const healthy = yield* Ref.make(false)
      const run = Effect.gen(function* () {
        yield* Ref.update(runs, (n) => n + 1)
        if (yield* Ref.get(healthy)) return yield* Effect.never
        return yield* Effect.fail("boom")
      })
      yield* sup.start({
        name: "c",
        run,
        backoff: { base: "10 millis", max: "10 millis" },
        intensity: { maxRestarts: 2 }
      })
      yield* settle
      for (let i = 0; i < 3; i++) yield* adjust(10)
      const failed = yield* statusOf(sup, "c")
      expect(failed.state).toBe("failed")
      expect(failed.restarts).toBe(2)
      yield* Ref.set(healthy, true)
      yield* sup.reset("c")
      yield* settle
      const back = yield* statusOf(sup, "c")
      expect(back.state).toBe("running")
      expect(back.restarts).toBe(0)
      expect(yield* Ref.get(runs)).toBe(4)
      expect((yield* Effect.flip(sup.reset("nope"))).reason).toBe("UnknownChild")
    })
  )
  it.scoped("backoff as a Schedule: a fixed spacing, and a schedule that ends leaves the child failed", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      const runs = yield* Ref.make(0)
      yield* sup.start({
        name: "c",
        run: crasher(runs),
        backoff: Schedule.spaced("300 millis").pipe(Schedule.intersect(Schedule.recurs(2))),
        intensity: { maxRestarts: 10 }
      })
      yield* settle
      expect(yield* Ref.get(runs)).toBe(1)
      yield* adjust(299)
      expect(yield* Ref.get(runs)).toBe(1)
      yield* adjust(1)
      expect(yield* Ref.get(runs)).toBe(2)
      yield* adjust(300)
      expect(yield* Ref.get(runs)).toBe(3)
      // two delays given: the third exit finds the schedule done
      const s = yield* statusOf(sup, "c")
      expect(s.state).toBe("failed")
      expect(s.lastExit).toBe("failed: boom")
      yield* adjust(60_000)
      expect(yield* Ref.get(runs)).toBe(3)
    })
  )

  it.scoped("backoff jitter: every delay within 0.5..1.5 of the unjittered one, under the TestClock", () =>
    Effect.gen(function* () {
      const sup = yield* NodeSupervisor.make
      const runs = yield* Ref.make(0)
      const startedAt = yield* Ref.make<ReadonlyArray<number>>([])
      const run = Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        yield* Ref.update(startedAt, (l) => [...l, now])
        yield* Ref.update(runs, (n) => n + 1)
        return yield* Effect.fail("boom")
      })
      yield* sup.start({
        name: "c",
        run,
        backoff: { base: "1 second", max: "4 seconds", jitter: true },
        intensity: { maxRestarts: 10 }
      })
      yield* settle
      // step 50 ms at a time: each restart is seen within 50 ms of its time
      for (let t = 0; t < 30_000 && (yield* Ref.get(runs)) < 6; t += 50) yield* adjust(50)
      const times = yield* Ref.get(startedAt)
      expect(times.length).toBeGreaterThanOrEqual(6)
      const gaps = times.slice(1, 6).map((t, i) => t - times[i]!)
      gaps.forEach((gap, i) => {
        const full = Math.min(1000 * 2 ** i, 4000)
        expect(gap).toBeGreaterThanOrEqual(full * 0.5 - 50)
        expect(gap).toBeLessThanOrEqual(full * 1.5 + 50)
      })
      // jittered: not all gaps are the exact unjittered delays
      expect(gaps.some((gap, i) => Math.abs(gap - Math.min(1000 * 2 ** i, 4000)) > 50)).toBe(true)
    })
  )

  it("backoff: base doubling to max, as the default restart schedule", () => {
    const delays = Chunk.toReadonlyArray(
      Effect.runSync(
        Schedule.run(
          Schedule.delays(NodeSupervisor.backoff({ base: "100 millis", max: "1 second" })),
          0,
          Array(6).fill(0)
        )
      )
    ).map(Duration.toMillis)
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000])
  })
})
