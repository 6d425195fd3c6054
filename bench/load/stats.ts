/** Latency samples and the `RESULT key=value …` line every bench load process prints. */
export class Samples {
  private data = new Float64Array(1 << 16)
  private n = 0

  add(ms: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[this.n++] = ms
  }

  get count(): number {
    return this.n
  }

  /** p50 and p99 in ms. */
  percentiles(): { readonly p50: number; readonly p99: number } {
    const s = this.data.subarray(0, this.n).sort()
    const at = (p: number) =>
      s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor(s.length * p))]!
    return { p50: at(0.5), p99: at(0.99) }
  }
}

export const resultLine = (fields: Record<string, string | number>): string =>
  `RESULT ${Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")}`
