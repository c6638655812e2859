// The demo's experiment grid: its configurations, and the summaries of their results (table, CSV rows).
import type { DemoNorm, EpochMetrics, RunConfig, RunResult } from './types.js';

/** The grid's normalizations, in table order. */
export const DEMO_NORMS: readonly DemoNorm[] = ['syncbn', 'bn', 'bigbatch', 'groupnorm'];

/** How the table and the terminal name each normalization. */
export const NORM_LABELS: Record<DemoNorm, string> = {
  syncbn: 'SyncBN (N × b)',
  bn: 'per-worker BN (N × b)',
  bigbatch: 'big batch (1 × N·b)',
  groupnorm: 'GroupNorm (N × b)',
};

/**
 * Every configuration: for each per-worker batch b, each seed and each norm (in that nesting, so a column of the
 * table fills first), N workers × b images — except 'bigbatch', one worker × N·b images of the same samples.
 */
export function gridConfigs(o: {
  nproc: number;
  batches: readonly number[];
  seeds: readonly number[];
  norms: readonly DemoNorm[];
  epochs: number;
}): RunConfig[] {
  const out: RunConfig[] = [];
  for (const b of o.batches) {
    for (const seed of o.seeds) {
      for (const norm of DEMO_NORMS) {
        if (!o.norms.includes(norm)) continue;
        const big = norm === 'bigbatch';
        out.push({
          norm,
          workers: big ? 1 : o.nproc,
          batchPerWorker: big ? o.nproc * b : b,
          globalBatch: o.nproc * b,
          seed,
          epochs: o.epochs,
        });
      }
    }
  }
  return out;
}

/** Mean and sample standard deviation (0 for one value). */
export function meanStd(xs: readonly number[]): { mean: number; std: number; n: number } {
  const n = xs.length;
  if (n === 0) return { mean: NaN, std: NaN, n };
  const mean = xs.reduce((a, v) => a + v, 0) / n;
  const std = n < 2 ? 0 : Math.sqrt(xs.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  return { mean, std, n };
}

/** Final mIoU (in %) of the finished runs of one (norm, column) cell, over seeds. */
export function cellOf(
  runs: readonly RunResult[],
  norm: DemoNorm,
  column: number,
  nproc: number,
): { mean: number; std: number; n: number } {
  const xs = runs
    .filter(
      (r) =>
        r.config.norm === norm &&
        r.final !== null &&
        !r.interrupted &&
        (norm === 'bigbatch' ? r.config.globalBatch === nproc * column : r.config.batchPerWorker === column),
    )
    .map((r) => 100 * r.final!.miou);
  return meanStd(xs);
}

/** The terminal table: rows = normalization, columns = images per worker, cells = val mIoU mean ± std (%). */
export function summaryTable(
  runs: readonly RunResult[],
  o: { nproc: number; batches: readonly number[]; norms: readonly DemoNorm[] },
): string {
  const head = ['val mIoU (%)', ...o.batches.map((b) => `${b} img/worker`)];
  const rows = DEMO_NORMS.filter((n) => o.norms.includes(n)).map((norm) => [
    NORM_LABELS[norm],
    ...o.batches.map((b) => {
      const c = cellOf(runs, norm, b, o.nproc);
      return c.n === 0 ? '–' : `${c.mean.toFixed(1)} ± ${c.std.toFixed(1)}`;
    }),
  ]);
  const widths = head.map((_, j) => Math.max(...[head, ...rows].map((r) => r[j]!.length)));
  const line = (r: string[]): string =>
    r.map((s, j) => (j === 0 ? s.padEnd(widths[j]!) : s.padStart(widths[j]!))).join('   ');
  return [line(head), ...rows.map(line)].join('\n');
}

export const CSV_HEADER =
  'norm,workers,batchPerWorker,globalBatch,seed,epoch,trainLoss,valLoss,miou,pixelAccuracy,trainSeconds,imagesPerSec';

/** metrics.csv: one row per epoch per run, in run order. */
export function metricsCsv(runs: readonly RunResult[]): string {
  const rows = runs.flatMap((r) =>
    r.epochs.map((e: EpochMetrics) => {
      const c = r.config;
      return [
        c.norm,
        c.workers,
        c.batchPerWorker,
        c.globalBatch,
        c.seed,
        e.epoch,
        e.trainLoss,
        e.valLoss,
        e.miou,
        e.pixelAccuracy,
        e.trainSeconds,
        e.imagesPerSec,
      ].join(',');
    }),
  );
  return [CSV_HEADER, ...rows].join('\n') + '\n';
}
