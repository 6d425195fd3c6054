/**
 * Open `n` connections of a load client, at most `parallel` connecting at once; fails if any does
 * not connect (closing the others first, when `close` is given). Shared by the TCP load client
 * (`load.ts`) and the WebSocket one (`bench/ws/wsConn.ts`).
 */
export interface Connecting {
  /** `done(undefined)` once connected, `done(error)` if it never will be. */
  ready(done: (error: Error | undefined) => void): void
}

export const openAll = async <C extends Connecting>(
  n: number,
  make: (i: number) => C,
  parallel = 200,
  close?: (conn: C) => void
): Promise<Array<C>> => {
  const conns: Array<C> = []
  let next = 0
  let failed = 0
  let firstError: Error | undefined
  const worker = async () => {
    while (next < n) {
      const i = next++
      const conn = make(i)
      conns[i] = conn
      const error = await new Promise<Error | undefined>((resolve) => conn.ready(resolve))
      if (error !== undefined) {
        failed++
        firstError ??= error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, worker))
  if (failed > 0) {
    if (close !== undefined) for (const conn of conns) close(conn)
    throw new Error(`${failed}/${n} connections failed (${firstError?.message})`)
  }
  return conns
}
