/** Order statistics for benchmark figures: medians of rounds, percentiles of samples. */

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

/** The median (mean of the middle two for an even count) with min and max; NaN values are ignored. */
export function summarize(values: readonly number[]): Summary | undefined {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  const n = finite.length;
  if (n === 0) return undefined;
  const middle = Math.floor(n / 2);
  const median = n % 2 === 1 ? (finite[middle] ?? Number.NaN) : ((finite[middle - 1] ?? 0) + (finite[middle] ?? 0)) / 2;
  return { median, min: finite[0] ?? Number.NaN, max: finite[n - 1] ?? Number.NaN, n };
}
