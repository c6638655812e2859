// Collective benchmarks: all-reduce latency (median, p99) and bus bandwidth over threads and TCP, 2 ranks, with torch
// gloo in the same run.
import { fileURLToPath } from 'node:url';
import { spawnProcesses, spawnThreads, type ProcessGroup, type RankOutcome } from '../src/comm/index.js';
import { type Reporter, findTorchPython, runPythonBench } from './util.js';

const LAT_SIZES = [129, 2049];
/** The statistics reported: per-round medians of calls, then the median over rounds. */
const ROUNDS_MEDIAN = 'median of round medians';
const RATIO = 'median of per-round ratios';
const BW_SIZES = [65536, 1 << 20, 1 << 24];

/** Runs in each rank (stringified): timings measured on rank 0 after a barrier, per size. */
const body = async (pg: ProcessGroup, args: string[]): Promise<Record<string, number>> => {
  const { latSizes, bwSizes, latIters, heap } = JSON.parse(args[0]!) as {
    latSizes: number[];
    bwSizes: number[];
    latIters: number;
    heap: string;
  };
  // Buffers live in the wasm heap, as tensors' data and DDP's gradient buckets do.
  const { allocF32 } = (await import(heap)) as { allocF32(n: number): Float32Array };
  const out: Record<string, number> = {};
  /** Sorted per-call times (ms) of `iters` blocking all-reduces of `a`, after a barrier. */
  const times = (a: Float32Array, iters: number): number[] => {
    pg.barrierSync();
    const ts: number[] = [];
    for (let i = 0; i < iters; i++) {
      const t = performance.now();
      pg.allReduceSync(a);
      ts.push(performance.now() - t);
    }
    return ts.sort((x, y) => x - y);
  };
  for (const n of latSizes) {
    const a = allocF32(n).fill(0);
    // Warm-up long enough for V8 to optimise the collective path (200 calls left it at ~2× in fresh threads).
    for (let i = 0; i < 2000; i++) pg.allReduceSync(a);
    const ts = times(a, latIters);
    out[`lat/${n}`] = ts[ts.length >> 1]! * 1000;
    out[`p99/${n}`] = ts[Math.min(ts.length - 1, Math.ceil(0.99 * ts.length) - 1)]! * 1000;
  }
  for (const n of bwSizes) {
    const a = allocF32(n).fill(0);
    pg.allReduceSync(a);
    const ts = times(a, Math.max(9, Math.min(50, Math.floor((64 << 20) / (n * 4)))));
    const sec = ts[ts.length >> 1]! / 1000;
    out[`busbw/${n}`] = ((n * 4) / sec / 1e9) * ((2 * (pg.size - 1)) / pg.size);
  }
  return out;
};

function first(outs: RankOutcome<Record<string, number>>[], what: string): Record<string, number> {
  const bad = outs.find((o) => !o.ok);
  if (bad && !bad.ok)
    throw new Error(`${what} benchmark: rank ${bad.rank} failed: ${bad.error.name}: ${bad.error.message}`);
  return (outs[0] as { value: Record<string, number> }).value;
}

/** Median of numbers (the middle one; the lower middle of an even count). */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1]!;
}

export async function run(rep: Reporter, argv: string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const heap = new URL('../src/kernels/wasm/heap.js', import.meta.url).href;
  // Rounds alternate threads, TCP and gloo: this VM's speed moves by up to 2× over minutes, so
  // each figure is the median over rounds and each ratio the median of per-round ratios.
  const rounds = quick ? 1 : 5;
  const latIters = quick ? 300 : 1000;
  const cfg = JSON.stringify({ latSizes: LAT_SIZES, bwSizes: BW_SIZES, latIters, heap });
  const script = fileURLToPath(new URL('../../scripts/bench_gloo.py', import.meta.url));
  const withGloo = findTorchPython() !== null;
  rep.say(
    `(2 ranks; buffers in the wasm heap, like tensors; latency = median/p99 of one blocking allReduce; busbw = ` +
      `algbw·2(n−1)/n; ${rounds} rounds of threads, TCP${withGloo ? ', gloo' : ''} in turn, medians over rounds)`,
  );
  if (!withGloo) rep.say('(torch not found: no gloo comparison)');
  const per: { threads: Record<string, number>; tcp: Record<string, number>; gloo: Record<string, number> }[] = [];
  for (let i = 0; i < rounds; i++) {
    const threads = first(await spawnThreads(2, body, [cfg], { deadlineMs: 600_000 }), 'threads');
    const tcp = first(await spawnProcesses(2, body, [cfg], { deadlineMs: 600_000 }), 'tcp');
    const gloo: Record<string, number> = {};
    if (withGloo) for (const m of runPythonBench(script, [String(latIters)])) gloo[m.name] = m.value;
    per.push({ threads, tcp, gloo });
  }
  const med = (f: (r: (typeof per)[number]) => number | undefined): number | undefined => {
    const xs = per.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
    return xs.length === 0 ? undefined : median(xs);
  };
  const g = (k: string): number | undefined => med((r) => r.gloo[k]);
  for (const kind of ['threads', 'tcp'] as const) {
    for (const n of LAT_SIZES) {
      const gl = g(`gloo/allreduce_latency_us/${n}`);
      const note =
        kind === 'threads' && n === 129
          ? 'target ≤ 20'
          : kind === 'tcp' && gl !== undefined
            ? `gloo/4 = ${(gl / 4).toFixed(0)}`
            : '';
      rep.report(
        `comm/allreduce_latency_us/${kind}/${n}`,
        med((r) => r[kind][`lat/${n}`])!,
        'us',
        note,
        ROUNDS_MEDIAN,
      );
      rep.report(
        `comm/allreduce_p99_us/${kind}/${n}`,
        med((r) => r[kind][`p99/${n}`])!,
        'us',
        '',
        "median of rounds' p99",
      );
    }
    for (const n of BW_SIZES) {
      const gl = g(`gloo/allreduce_busbw/${n}`);
      const note = n === 1 << 24 && gl !== undefined ? `target ≥ ${(kind === 'threads' ? 2 * gl : gl).toFixed(2)}` : '';
      rep.report(
        `comm/allreduce_busbw/${kind}/${n}`,
        med((r) => r[kind][`busbw/${n}`])!,
        'GB/s',
        note,
        ROUNDS_MEDIAN,
      );
    }
  }
  for (const k of Object.keys(per[0]!.gloo))
    rep.report(k, g(k)!, k.includes('busbw') ? 'GB/s' : 'us', '', ROUNDS_MEDIAN);
  if (!withGloo) return;
  const ratio = (kind: 'threads' | 'tcp', ours: string, theirs: string): number | undefined =>
    med((r) => r[kind][ours]! / r.gloo[theirs]!);
  const big = 1 << 24;
  const lat = ratio('tcp', 'lat/129', 'gloo/allreduce_latency_us/129');
  const tcpBw = ratio('tcp', `busbw/${big}`, `gloo/allreduce_busbw/${big}`);
  const thrBw = ratio('threads', `busbw/${big}`, `gloo/allreduce_busbw/${big}`);
  const each = (kind: 'threads' | 'tcp', ours: string, theirs: string): string =>
    `rounds: ${per.map((r) => (r[kind][ours]! / r.gloo[theirs]!).toFixed(2)).join(', ')}`;
  if (lat !== undefined)
    rep.report(
      'comm/allreduce_latency_ratio/tcp_over_gloo/129',
      lat,
      'x',
      `target ≤ 0.25; ${each('tcp', 'lat/129', 'gloo/allreduce_latency_us/129')}`,
      RATIO,
    );
  if (tcpBw !== undefined)
    rep.report(
      `comm/allreduce_busbw_ratio/tcp_over_gloo/${big}`,
      tcpBw,
      'x',
      `target ≥ 1; ${each('tcp', `busbw/${big}`, `gloo/allreduce_busbw/${big}`)}`,
      RATIO,
    );
  if (thrBw !== undefined)
    rep.report(
      `comm/allreduce_busbw_ratio/threads_over_gloo/${big}`,
      thrBw,
      'x',
      `target ≥ 2; ${each('threads', `busbw/${big}`, `gloo/allreduce_busbw/${big}`)}`,
      RATIO,
    );
}
