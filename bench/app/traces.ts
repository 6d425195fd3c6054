/**
 * The bench servers' tracing switch, for measuring the cost of traces (W1, W2, W5): env
 * `HOTARU_BENCH_TRACES` unset (the default): no tracing, as a node without `telemetry.traces`;
 * `memory`: every span made and ended, none kept (the cost of making them); an `http(s)://` URL:
 * exported over OTLP/HTTP there, as `telemetry.otlp` does.
 */
import { Effect, Layer } from "effect"
import { Telemetry } from "hotaru-rt"

const setting = process.env.HOTARU_BENCH_TRACES ?? ""

/** What a bench node `node`'s layers are built with (nothing when tracing is off). */
export const tracesLayer = (node: string): Layer.Layer<never> =>
  setting === ""
    ? Layer.empty
    : Telemetry.layerNode(node).pipe(
        Layer.provide(
          setting === "memory"
            ? Layer.effect(
                Telemetry.Telemetry,
                Effect.map(Telemetry.makeMemory(0), (memory) => memory.telemetry)
              )
            : Layer.orDie(Telemetry.layer({ url: setting, serviceName: "hotaru-bench" }))
        )
      )
