/**
 * Traces end to end: `hotaru start` of the demo with `telemetry.traces` on and the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_SERVICE_NAME` in its environment; its three nodes (node
 * processes, or `--in-process`) export their spans over OTLP/HTTP to a collector in this process,
 * one trace per command across them, flushed when the cluster stops; with the standard
 * `OTEL_TRACES_SAMPLER=always_off`, none.
 */
import { describe, expect, it } from "@effect/vitest"
import { alive } from "./support/child.js"
import { bin, exited, run, startHotaru } from "./support/cli.js"
import { call300, demoConfig, status } from "./support/demo.js"
import { collector } from "./support/otlp.js"
import { waitFor } from "./support/wait.js"

describe.each(["process", "in-process"] as const)("traces across the nodes of hotaru start (%s)", (mode) => {
  it("the demo's command 300 is one trace over net, gate and game1, exported by each", {
    timeout: 150_000
  }, async () => {
    const otlp = await collector()
    const { dir, file, netport, webport } = await demoConfig({
      prefix: "traces",
      extra: { telemetry: { traces: true } }
    })
    const args = mode === "in-process" ? ["start", file, "--in-process"] : ["start", file]
    const master = startHotaru("hotaru start", args, {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_SERVICE_NAME: "demo-e2e"
    })
    try {
      await waitFor("the demo to answer", () => call300(netport), 90_000)
      const pids = (await status(webport, dir)).nodes.map((n) => n.pid!)
      await run(process.execPath, [bin, "stop", file], { timeout: 60_000 })
      expect(await exited(master)).toBe(0)
      for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false)

      const spans = otlp.bodies.flatMap((body) =>
        body.resourceSpans.flatMap((r) => {
          const resource = Object.fromEntries(r.resource.attributes.map((a) => [a.key, a.value]))
          return r.scopeSpans.flatMap((s) => s.spans.map((span) => ({ ...span, resource })))
        })
      )
      // the last command 300 answered: its trace, whichever attempts came before
      const served = spans.filter((s) => s.name === "hotaru.serve game1Handle")
      expect(served.length).toBeGreaterThan(0)
      const trace = spans.filter((s) => s.traceId === served[served.length - 1]!.traceId)
      const byName = new Map(trace.map((s) => [s.name, s]))
      expect([...byName.keys()].sort()).toEqual([
        "hotaru.call game1Handle",
        "hotaru.call gateHandle2",
        "hotaru.command netHandle_300",
        "hotaru.serve game1Handle",
        "hotaru.serve gateHandle2"
      ])
      const span = (name: string) => byName.get(name)!
      expect(span("hotaru.command netHandle_300").parentSpanId ?? "").toBe("")
      expect(span("hotaru.call gateHandle2").parentSpanId).toBe(span("hotaru.command netHandle_300").spanId)
      expect(span("hotaru.serve gateHandle2").parentSpanId).toBe(span("hotaru.call gateHandle2").spanId)
      expect(span("hotaru.call game1Handle").parentSpanId).toBe(span("hotaru.serve gateHandle2").spanId)
      expect(span("hotaru.serve game1Handle").parentSpanId).toBe(span("hotaru.call game1Handle").spanId)
      // each from its own process: the resource names its node and the service
      const node = (name: string) => span(name).resource["service.instance.id"]
      expect(node("hotaru.command netHandle_300")).toEqual({ stringValue: "net" })
      expect(node("hotaru.serve gateHandle2")).toEqual({ stringValue: "gate" })
      expect(node("hotaru.serve game1Handle")).toEqual({ stringValue: "game1" })
      expect(span("hotaru.serve game1Handle").resource["service.name"]).toEqual({ stringValue: "demo-e2e" })
      // the master's admin calls (status every second) are no spans
      expect(spans.some((s) => s.name.includes("Status") || s.name.includes("Metrics"))).toBe(false)
    } finally {
      master.kill("SIGKILL")
      otlp.close()
    }
  })

  // the sampler is read from the environment by each node: the node processes inherit it from the
  // master (in-process, the nodes read the master's own: test/tracesSampling.test.ts)
  it.runIf(mode === "process")(
    "OTEL_TRACES_SAMPLER=always_off in the master's environment: no node exports a span",
    {
      timeout: 150_000
    },
    async () => {
      const otlp = await collector()
      const { file, netport } = await demoConfig({
        prefix: "unsampled",
        extra: { telemetry: { traces: true } }
      })
      const args = mode === "in-process" ? ["start", file, "--in-process"] : ["start", file]
      const master = startHotaru("hotaru start", args, {
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_TRACES_SAMPLER: "always_off"
      })
      try {
        await waitFor("the demo to answer", () => call300(netport), 90_000)
        for (let i = 0; i < 3; i++) await call300(netport)
        await run(process.execPath, [bin, "stop", file], { timeout: 60_000 })
        expect(await exited(master)).toBe(0)
        const names = otlp.bodies.flatMap((b) =>
          b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((span) => span.name)))
        )
        expect(names.filter((n) => n.startsWith("hotaru."))).toEqual([])
      } finally {
        master.kill("SIGKILL")
        otlp.close()
      }
    }
  )
})
