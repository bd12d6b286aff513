/** Small statistics helpers for the benchmark (percentiles over a growable sample buffer, medians). */

/** A growable Float64Array of samples (latencies in ms); cheap to append millions. */
export class Samples {
  private buf = new Float64Array(1024);
  n = 0;
  add(v: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = v;
  }
  /** p50 / p95 / p99 / max in the samples' unit; NaN when empty. */
  summary(): { n: number; p50: number; p95: number; p99: number; max: number } {
    if (this.n === 0) return { n: 0, p50: NaN, p95: NaN, p99: NaN, max: NaN };
    const s = this.buf.slice(0, this.n).sort();
    return { n: this.n, p50: quantile(s, 0.5), p95: quantile(s, 0.95), p99: quantile(s, 0.99), max: s[s.length - 1]! };
  }
}

/** Nearest-rank quantile of a sorted array. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** Median of finite values; NaN when there are none. */
export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}
