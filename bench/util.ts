// Benchmark helpers: timing with medians, the JSON-lines/table reporter, and finding a Python that has torch.
import { spawnSync } from 'node:child_process';
import { findTorchPython } from '../test/helpers/python.js';

export interface Metric {
  name: string;
  value: number;
  unit: string;
  /** What the value is: 'median' or 'p90' of samples, 'ratio of medians', 'single' (one measurement), … */
  stat: string;
}

export class Reporter {
  readonly metrics: Metric[] = [];
  constructor(readonly json: boolean) {}
  /** Record one figure with its statistic. In --json mode prints a JSON line at once; else a table row. */
  report(name: string, value: number, unit: string, note = '', stat = 'median'): void {
    this.metrics.push({ name, value, unit, stat });
    if (this.json) process.stdout.write(JSON.stringify({ name, value, unit, stat }) + '\n');
    else
      process.stdout.write(
        `${name.padEnd(60)} ${fmt(value).padStart(12)} ${unit.padEnd(8)} ${stat.padEnd(8)} ${note}\n`,
      );
  }
  /**
   * Record the median and the 90th percentile of per-call seconds, as `value(seconds)` in `unit`
   * (e.g. GB/s = bytes / s): `name` is the median, `name/p90` the slow tail (p90 of the times).
   */
  samples(name: string, seconds: number[], value: (s: number) => number, unit: string, note = ''): void {
    this.report(name, value(median(seconds)), unit, note, 'median');
    this.report(`${name}/p90`, value(percentile(seconds, 90)), unit, '', 'p90');
  }
  /** Human-only line (suppressed in --json mode). */
  say(line: string): void {
    if (!this.json) process.stdout.write(line + '\n');
    else process.stderr.write(line + '\n');
  }
  get(name: string): number | undefined {
    return this.metrics.find((m) => m.name === name)?.value;
  }
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(3) : v.toPrecision(3);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/**
 * Time `fn` (seconds per call): warm up, then take `samples` timings of `inner` calls each and
 * return all per-call times (take the median). Bounded by `maxSeconds` overall.
 */
export function timeIt(
  fn: () => void,
  opts: { warmup?: number; samples?: number; inner?: number; maxSeconds?: number } = {},
): number[] {
  const { warmup = 3, samples = 15, inner = 1, maxSeconds = 10 } = opts;
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  const t0 = performance.now();
  for (let s = 0; s < samples; s++) {
    const a = performance.now();
    for (let i = 0; i < inner; i++) fn();
    out.push((performance.now() - a) / 1000 / inner);
    if ((performance.now() - t0) / 1000 > maxSeconds && out.length >= 3) break;
  }
  return out;
}

export { findTorchPython } from '../test/helpers/python.js';

/**
 * Run a one-shot Python script with the torch python; its stdout JSON lines are metrics (stat 'median' unless named).
 */
export function runPythonBench(script: string, args: string[] = [], timeoutMs = 600_000): Metric[] {
  const py = findTorchPython();
  if (py === null) return [];
  const env = { ...process.env, OMP_NUM_THREADS: '1' };
  const r = spawnSync(py, [script, ...args], { encoding: 'utf8', timeout: timeoutMs, env });
  if (r.status !== 0) throw new Error(`${script} failed (${r.status}): ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => ({ stat: 'median', ...(JSON.parse(l) as Omit<Metric, 'stat'>) }));
}
