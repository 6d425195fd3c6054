/** What every WebSocket bench workload gets from the load process (`wsLoad.ts`), and gives back. */
export interface WorkloadOptions {
  /** `ws://127.0.0.1:PORT/` */
  readonly url: string
  readonly label: string
  readonly conns: number
  readonly warmupMs: number
  readonly durationMs: number
  /** The request body (echo, fan-out). */
  readonly body: Buffer
  /** The server processes, for their CPU time (`serverCpu.ts`). */
  readonly serverPids: ReadonlyArray<number>
  /** The rest of the command line (each workload's own flags). */
  readonly args: Map<string, string>
}

/** The fields of the `RESULT` line. */
export type Fields = Record<string, string | number>

export type Workload = (options: WorkloadOptions) => Promise<Fields>

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
