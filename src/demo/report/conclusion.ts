// The report's one paragraph of findings, composed from the table's numbers (every clause depends on them).
import type { DemoNorm } from '../types.js';
import { type Cell, type Column, type Stat, type Summary, pct, signedPoints } from './summary.js';

/**
 * Smallest difference (mIoU points) called a difference at all. Two seeds of the same configuration differ
 * by about a point on this task, so a gap under 2 points is "within a few points" whatever the spread says.
 */
export const MIN_GAP_POINTS = 2;

/**
 * Below this best mean mIoU the models have hardly learned (predicting background everywhere already gives about
 * 1/11 ≈ 9 %), and the paragraph says the comparison is premature.
 */
export const UNDERTRAINED_MIOU = 0.2;

/**
 * Points two cells may differ by and still count as equal: max(MIN_GAP_POINTS, 2·√(sd₁² + sd₂²)), i.e. twice
 * the spread of a difference of two single runs, as seeds are few (2–3) and their standard error would flatter.
 */
export function tolerancePoints(a: Stat, b: Stat): number {
  return Math.max(MIN_GAP_POINTS, 2 * 100 * Math.hypot(a.sd, b.sd));
}

/** Magnitude of a difference in points, for prose ("4.1 points"). */
function points(x: number): string {
  const v = Math.abs(100 * x).toFixed(1);
  return `${v} point${v === '1.0' ? '' : 's'}`;
}

function images(b: number): string {
  return `${b} image${b === 1 ? '' : 's'}`;
}

function where(c: Column): string {
  if (c.perWorker === null) return `At a global batch of ${c.globalBatch}`;
  return `At ${images(c.perWorker)} per worker (${c.workers} workers, global batch ${c.globalBatch})`;
}

/** The verdict of the comparisons at one column, with the reasons it fails. */
interface Comparison {
  sentences: string[];
  /** Reasons the expected effect does not show; empty when it shows; null when a needed cell is missing. */
  failures: string[] | null;
}

type Done = Cell & { miou: Stat; pixelAccuracy: Stat };
const done = (c: Cell | null | undefined): c is Done => !!c && c.miou !== null && c.pixelAccuracy !== null;

function compareAt(summary: Summary, i: number): Comparison {
  const cell = (n: DemoNorm): Done | null => {
    const c = summary.cells[n][i];
    return done(c) ? c : null;
  };
  const [s, g, p, gn] = [cell('syncbn'), cell('bigbatch'), cell('bn'), cell('groupnorm')];
  const out: string[] = [];
  const failures: string[] = [];
  let complete = !!(s && g && p);
  const lead = where(summary.columns[i]);
  if (s && g) {
    const gap = s.miou.mean - g.miou.mean;
    const tol = tolerancePoints(s.miou, g.miou);
    const head = `${lead}, SyncBN reaches ${pct(s.miou.mean)} % mIoU and the big batch ${pct(g.miou.mean)} %`;
    if (Math.abs(100 * gap) <= tol) {
      out.push(
        `${head}: a gap of ${signedPoints(gap)} points, within the ±${tol.toFixed(1)} that the spread over seeds ` +
          'allows, so synchronizing the statistics recovers big-batch accuracy.',
      );
    } else {
      const side = gap < 0 ? 'below' : 'above';
      out.push(
        `${head}: SyncBN is ${points(gap)} ${side} the big batch, more than the ±${tol.toFixed(1)} ` +
          'that the spread over seeds explains.',
      );
      failures.push(`SyncBN is ${points(gap)} ${side} the big batch instead of matching it`);
    }
  } else if (s || g) {
    const [have, name] = s ? [s, 'SyncBN'] : [g!, 'the big batch'];
    out.push(
      `${lead}, ${name} reaches ${pct(have.miou.mean)} % mIoU; ` +
        `${s ? 'the big batch' : 'SyncBN'} has no finished run to compare with.`,
    );
  }
  if (p) {
    const ref = s ?? g;
    if (ref) {
      const diff = ref.miou.mean - p.miou.mean;
      const tol = tolerancePoints(ref.miou, p.miou);
      const refName = s ? 'SyncBN' : 'the big batch';
      let rel: string;
      if (100 * diff > tol) rel = `${points(diff)} below ${refName}`;
      else if (100 * diff < -tol) rel = `${points(diff)} above ${refName}`;
      else rel = `within ${tol.toFixed(1)} points of ${refName} (${signedPoints(-diff)})`;
      out.push(
        `Per-worker BN, which normalizes with each worker's own batch statistics, reaches ` +
          `${pct(p.miou.mean)} %: ${rel}.`,
      );
      if (s && !(100 * diff > tol)) failures.push('per-worker BN is not clearly below SyncBN');
    } else {
      out.push(`Per-worker BN reaches ${pct(p.miou.mean)} % mIoU.`);
    }
  }
  if (gn) {
    const ref = g ?? s;
    const vs = ref
      ? ` (${signedPoints(gn.miou.mean - ref.miou.mean)} points against ${g ? 'the big batch' : 'SyncBN'})`
      : '';
    out.push(`GroupNorm, which needs no batch statistics, reaches ${pct(gn.miou.mean)} %${vs}.`);
  }
  const named: Array<[string, Done | null]> = [
    ['SyncBN', s],
    ['the big batch', g],
    ['per-worker BN', p],
    ['GroupNorm', gn],
  ];
  const pix = named.flatMap(([name, c]) => (c ? [`${name} ${pct(c.pixelAccuracy.mean)} %`] : []));
  if (pix.length > 1) out.push(`Pixel accuracy there: ${pix.join(', ')}.`);
  if (!(s && g && p)) complete = false;
  return { sentences: out, failures: complete ? failures : null };
}

/** How per-worker BN and SyncBN move from the largest to the smallest column (the paper's trend). */
function trend(summary: Summary, first: number): string | null {
  const last = summary.columns.length - 1;
  if (last <= first) return null;
  const parts: string[] = [];
  for (const [norm, name] of [
    ['bn', 'per-worker BN'],
    ['syncbn', 'SyncBN'],
    ['groupnorm', 'GroupNorm'],
  ] as const) {
    const [lo, hi] = [summary.cells[norm][first], summary.cells[norm][last]];
    if (done(lo) && done(hi)) {
      parts.push(
        `${name} goes from ${pct(hi.miou.mean)} to ${pct(lo.miou.mean)} % ` +
          `(${signedPoints(lo.miou.mean - hi.miou.mean)})`,
      );
    }
  }
  if (parts.length === 0) return null;
  const [a, b] = [summary.columns[last], summary.columns[first]];
  const span =
    a.perWorker !== null && b.perWorker !== null
      ? `From ${a.perWorker} to ${images(b.perWorker)} per worker`
      : `From a global batch of ${a.globalBatch} to ${b.globalBatch}`;
  return `${span}, ${parts.join(', ')}.`;
}

/** The paragraph as sentences; `verdict` indexes the sentence that says whether the expected effect shows. */
export interface Findings {
  sentences: string[];
  verdict: number;
}

/**
 * What the numbers show, sentence by sentence: SyncBN against the big batch and per-worker BN at the smallest
 * per-worker batch, GroupNorm, the trend over batch sizes, and whether the expected effect
 * (SyncBN ≈ big batch > per-worker BN) shows — said plainly when it does not.
 */
export function findings(summary: Summary, partial: boolean): Findings {
  const out: string[] = [];
  if (partial) {
    out.push(
      `Preliminary: the grid is still running (${summary.finishedRuns} of ${summary.totalRuns} ` +
        'runs listed so far have finished).',
    );
  }
  const first = summary.columns.findIndex((_, i) => done(summary.cells.syncbn[i]));
  const any = summary.columns.findIndex((_, i) => summary.norms.some((n) => done(summary.cells[n][i])));
  if (any < 0) {
    out.push('No configuration has finished an epoch yet, so there is nothing to compare.');
    return { sentences: out, verdict: out.length - 1 };
  }
  const focus = first >= 0 ? first : any;
  const f = compareAt(summary, focus);
  out.push(...f.sentences);
  const t = trend(summary, focus);
  if (t) out.push(t);
  if (f.failures === null) {
    out.push(
      'Whether SyncBN matches the big batch and beats per-worker BN cannot be judged yet: ' +
        'a configuration of that column has no finished run.',
    );
  } else if (f.failures.length === 0) {
    out.push(
      'This is the effect the Group Norm paper reports: with few images per worker, per-worker batch ' +
        'statistics are too noisy, and synchronizing them across workers restores big-batch behaviour.',
    );
  } else {
    out.push(
      `The data do not show the expected effect (SyncBN ≈ big batch > per-worker BN at the smallest ` +
        `batch): ${f.failures.join(', and ')}.`,
    );
  }
  const verdict = out.length - 1;
  const cells = summary.norms.flatMap((n) => summary.cells[n]).filter(done);
  const best = Math.max(...cells.map((c) => c.miou.mean));
  if (best < UNDERTRAINED_MIOU) {
    out.push(
      `Every configuration is still close to its untrained state (best mIoU ${pct(best)} %), so these ` +
        'differences say little about normalization; more epochs or more training scenes would.',
    );
  }
  const n = Math.min(...cells.map((c) => c.miou.n));
  const maxN = Math.max(...cells.map((c) => c.miou.n));
  out.push(
    maxN <= 1
      ? 'Each number is a single seed, so the gaps carry no estimate of their noise.'
      : `Means over ${n === maxN ? n : `${n}–${maxN}`} seeds; ± in the table is the sample standard deviation.`,
  );
  if (cells.some((c) => c.includesInterrupted)) {
    out.push(
      'Some cells (marked †) only have runs that stopped before their last epoch, so their numbers come ' +
        'from fewer epochs.',
    );
  }
  return { sentences: out, verdict };
}

/** The findings as one paragraph of plain text (for the page and the terminal). */
export function conclusion(summary: Summary, partial: boolean): string {
  return findings(summary, partial).sentences.join(' ');
}
