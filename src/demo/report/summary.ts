// The grid's runs as the report's table: one cell per (normalization, global batch), mean ± spread over seeds.
import type { DemoNorm, DemoReport, RunResult } from '../types.js';

/** Row order of the table, as in the Group Norm paper's comparison: the reference first. */
export const NORMS: readonly DemoNorm[] = ['bigbatch', 'syncbn', 'bn', 'groupnorm'];

/** Human names of the rows. */
export const NORM_LABEL: Readonly<Record<DemoNorm, string>> = {
  bigbatch: 'Big batch (BN, 1 worker)',
  syncbn: 'SyncBN',
  bn: 'Per-worker BN',
  groupnorm: 'GroupNorm',
};

/** Mean and sample standard deviation of a metric over the seeds that finished. */
export interface Stat {
  mean: number;
  /** Sample standard deviation (n − 1 in the denominator); 0 when only one seed finished. */
  sd: number;
  n: number;
}

/**
 * One cell of the table: the runs of one normalization in one column. Its statistics are over the runs that
 * finished every epoch; only when none did, over the interrupted runs' last finished epoch (flagged).
 */
export interface Cell {
  norm: DemoNorm;
  column: Column;
  runs: RunResult[];
  /** null when no run of this cell has a final metric yet. */
  miou: Stat | null;
  pixelAccuracy: Stat | null;
  /** The statistics come from runs that stopped before their last epoch (no run of the cell finished). */
  includesInterrupted: boolean;
}

/** One column: all configurations that share a global batch (N workers × b images, or 1 × N·b). */
export interface Column {
  globalBatch: number;
  /** Images per worker of the N-worker configurations; null when the worker count is unknown. */
  perWorker: number | null;
  workers: number | null;
}

/** The grid as the table shows it. */
export interface Summary {
  columns: Column[];
  /** cells[norm][i] belongs to columns[i]; null where the grid has no run of that configuration. */
  cells: Record<DemoNorm, Array<Cell | null>>;
  /** Norms with at least one run, in table order. */
  norms: DemoNorm[];
  /** Worker count N of the multi-worker configurations, when known. */
  workers: number | null;
  /** Distinct seeds over all runs. */
  seeds: number[];
  finishedRuns: number;
  totalRuns: number;
}

/** Mean and sample standard deviation; null for no values. */
export function stat(values: readonly number[]): Stat | null {
  const n = values.length;
  if (n === 0) return null;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, sd: 0, n };
  const ss = values.reduce((a, v) => a + (v - mean) * (v - mean), 0);
  return { mean, sd: Math.sqrt(ss / (n - 1)), n };
}

/** Most frequent value (smallest on ties); null for none. */
function mode(values: readonly number[]): number | null {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: number | null = null;
  let bestCount = 0;
  for (const [v, c] of [...counts].sort((a, b) => a[0] - b[0])) {
    if (c > bestCount) [best, bestCount] = [v, c];
  }
  return best;
}

/**
 * The worker count N of the grid: from the multi-worker runs, else from a numeric setting named like the
 * CLI's option (nproc / workers / n). Big-batch runs use 1 worker and say nothing about N.
 */
function gridWorkers(report: DemoReport): number | null {
  const n = mode(report.runs.filter((r) => r.config.norm !== 'bigbatch').map((r) => r.config.workers));
  if (n !== null) return n;
  for (const key of ['nproc', 'workers', 'n']) {
    const v = report.settings[key];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  }
  return null;
}

/** Group the runs into the table's cells and compute each cell's statistics over seeds. */
export function summarize(report: DemoReport): Summary {
  const workers = gridWorkers(report);
  const batches = [...new Set(report.runs.map((r) => r.config.globalBatch))].sort((a, b) => a - b);
  const columns: Column[] = batches.map((g) => ({
    globalBatch: g,
    perWorker: workers !== null && g % workers === 0 ? g / workers : null,
    workers,
  }));
  const cells = {} as Record<DemoNorm, Array<Cell | null>>;
  for (const norm of NORMS) {
    cells[norm] = columns.map((column) => {
      const runs = report.runs
        .filter((r) => r.config.norm === norm && r.config.globalBatch === column.globalBatch)
        .sort((a, b) => a.config.seed - b.config.seed);
      if (runs.length === 0) return null;
      // Runs that stopped early have finals from fewer epochs: count them only when no run of the cell finished.
      const withFinal = runs.filter((r) => r.final !== null);
      const complete = withFinal.filter((r) => !r.interrupted);
      const used = complete.length > 0 ? complete : withFinal;
      return {
        norm,
        column,
        runs,
        miou: stat(used.map((r) => r.final!.miou)),
        pixelAccuracy: stat(used.map((r) => r.final!.pixelAccuracy)),
        includesInterrupted: used.some((r) => r.interrupted),
      };
    });
  }
  return {
    columns,
    cells,
    norms: NORMS.filter((n) => cells[n].some((c) => c !== null)),
    workers,
    seeds: [...new Set(report.runs.map((r) => r.config.seed))].sort((a, b) => a - b),
    finishedRuns: report.runs.filter((r) => r.final !== null && !r.interrupted).length,
    totalRuns: report.runs.length,
  };
}

/** Column heading: images per worker when N is known, else the global batch. */
export function columnLabel(c: Column): string {
  return c.perWorker !== null ? `${c.perWorker}` : `global ${c.globalBatch}`;
}

/** Short names of the rows, for dense tables. */
export const NORM_SHORT: Readonly<Record<DemoNorm, string>> = {
  bigbatch: 'Big batch',
  syncbn: 'SyncBN',
  bn: 'Per-worker BN',
  groupnorm: 'GroupNorm',
};

/** A difference of fractions in signed percentage points with a real minus: 0.031 → "+3.1", −0.004 → "−0.4". */
export function signedPoints(x: number): string {
  const s = (100 * x).toFixed(1);
  if (/^-?0\.0$/.test(s)) return '±0.0';
  return s.startsWith('-') ? `−${s.slice(1)}` : `+${s}`;
}

/** A fraction in [0, 1] as percent with one decimal: 0.6234 → "62.3". */
export function pct(x: number): string {
  return (100 * x).toFixed(1);
}
