/** Small statistics for the benchmark scripts' tables, and how they print them. */

/**
 * Piped into head, a bench's stdout closes before its report ends, and the write's EPIPE would kill
 * it before its clean-up (a lab, Consul agents, temp dirs): the rest of the report is dropped and
 * the bench runs on to the end instead.
 */
export function dropReportWhenStdoutCloses(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
  });
}

export function summary(values: readonly number[]): { min: number; median: number; max: number; n: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { min: sorted[0] ?? Number.NaN, median, max: sorted.at(-1) ?? Number.NaN, n: sorted.length };
}

export const seconds = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '-');

export function row(label: string, values: readonly number[], format: (v: number) => string = seconds): string {
  const s = summary(values);
  return `${label.padEnd(46)} ${format(s.min).padStart(8)} ${format(s.median).padStart(8)} ${format(s.max).padStart(8)}   n=${s.n}`;
}

export const header = (unit: string): string => `${''.padEnd(46)} ${'min'.padStart(8)} ${'median'.padStart(8)} ${'max'.padStart(8)}   (${unit})`;
