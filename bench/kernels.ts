// Batch-norm kernel throughput (GB/s of input) for both layouts, memcpy bandwidth and PyTorch's BatchNorm2d in the same run;
// GroupNorm forward + backward time next to PyTorch's (median ms, no target).
// Every figure here (ours, memcpy, PyTorch) is the best of its samples: on a shared machine the
// fastest sample is the one least disturbed by other processes, and all sides get the same rule.
import { fileURLToPath } from 'node:url';
import { groupNormParamGrads, wasmKernels } from '../src/kernels/index.js';
import type { BNGeom, KernelSet } from '../src/kernels/index.js';
import { allocF32, allocF64, heapPointer, release } from '../src/tensor/heap.js';
import { Reporter, findTorchPython, median, runPythonBench, timeIt } from './util.js';
import type { Metric } from './util.js';

const SHAPES: ReadonlyArray<readonly [number, number, number, number]> = [
  [8, 64, 56, 56],
  [32, 256, 28, 28],
];
const LAYOUTS = ['nchw', 'nhwc'] as const;
const WHAT = ['bn_forward', 'bn_backward', 'bn_forward_backward'] as const;
const TARGET: Record<string, string> = {
  'bn_forward/nchw': 'target ≥ 2',
  'bn_forward/nhwc': 'target ≥ 1',
  'bn_forward_backward/nchw': 'target ≥ 2',
  'bn_forward_backward/nhwc': 'target ≥ 2',
};

/** GB/s of a copy: bytes copied per second (a 100 MB TypedArray.set). */
function memcpyGBs(): number {
  const n = 25_000_000;
  const a = new Float32Array(n).fill(1);
  const b = new Float32Array(n);
  const t = Math.min(...timeIt(() => b.set(a), { warmup: 2, samples: 9, maxSeconds: 10 }));
  return (n * 4) / t / 1e9;
}

function fillRandom(a: Float32Array, seed: number): void {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
}

/** One training step's kernels on heap tensors, as BatchNorm2d runs them on one worker. */
function steps(K: KernelSet, g: BNGeom, x: Float32Array, y: Float32Array, dy: Float32Array, dx: Float32Array) {
  const c = g.c;
  const mean = new Float64Array(c), m2 = new Float64Array(c);
  const gm = new Float64Array(c), vb = new Float64Array(c), vu = new Float64Array(c), inv = new Float64Array(c);
  const sDy = new Float64Array(c), sDyXmu = new Float64Array(c);
  const w = new Float32Array(c).fill(1), b = new Float32Array(c);
  const rm = new Float32Array(c), rv = new Float32Array(c).fill(1);
  const count = g.n * g.s;
  const forward = (): void => {
    K.batchNormStats(mean, m2, x, g);
    K.batchNormGatherStats(gm, vb, vu, inv, [{ count, mean, m2 }], 1e-5);
    K.batchNormElemt(y, x, gm, inv, w, b, g, false);
    K.batchNormUpdateRunning(rm, rv, gm, vu, 0.1, 1);
  };
  const backward = (): void => {
    K.batchNormBackwardReduce(sDy, sDyXmu, dy, x, gm, g, null);
    K.batchNormBackwardElemt(dx, dy, x, gm, inv, w, sDy, sDyXmu, count, g, null);
  };
  forward();
  return { bn_forward: forward, bn_backward: backward, bn_forward_backward: (): void => (forward(), backward()) };
}

/** PyTorch for one shape and layout, run right before ours so both see the same load on a shared machine. */
function torchRun(rep: Reporter, tag: string, layout: string): Metric[] {
  if (findTorchPython() === null) return [];
  const script = fileURLToPath(new URL('../../scripts/bench_torch_bn.py', import.meta.url));
  try {
    return runPythonBench(script, [tag, layout]);
  } catch (e) {
    rep.say(`PyTorch benchmark failed: ${(e as Error).message}`);
    return [];
  }
}

/**
 * GroupNorm (the demo's no-batch-statistics baseline) on one NCHW shape: the five steps of one training step as the
 * autograd op runs them (stats, elemt; reduce, dγ/dβ, dx elemt) on heap tensors, median ms; PyTorch's right before.
 */
function groupNormBench(rep: Reporter): void {
  const [n, c, h, w, groups] = [8, 64, 56, 56, 32] as const;
  const tag = `${n}x${c}x${h}x${w}/g${groups}`;
  const g = { n, c, s: h * w, groups };
  const len = n * c * h * w;
  const x = allocF32(len), y = allocF32(len), dy = allocF32(len), dx = allocF32(len);
  const stats = allocF64(2 * n * groups), sums = allocF64(2 * n * c);
  const wt = allocF32(c).fill(1), b = allocF32(c).fill(0), dw = new Float32Array(c), db = new Float32Array(c);
  fillRandom(x, 3);
  fillRandom(dy, 4);
  const [mean, invstd] = [stats.subarray(0, n * groups), stats.subarray(n * groups)];
  const [sumDy, sumDyXmu] = [sums.subarray(0, n * c), sums.subarray(n * c)];
  const K = wasmKernels;
  const step = (): void => {
    K.groupNormStats(mean, invstd, x, g, 1e-5);
    K.groupNormElemt(y, x, mean, invstd, wt, b, g);
    K.groupNormBackwardReduce(sumDy, sumDyXmu, dy, x, mean, g);
    groupNormParamGrads(dw, db, sumDy, sumDyXmu, invstd, g);
    K.groupNormBackwardElemt(dx, dy, x, mean, invstd, wt, sumDy, sumDyXmu, g);
  };
  let torch: Metric[] = [];
  if (findTorchPython() !== null) {
    const script = fileURLToPath(new URL('../../scripts/bench_torch_gn.py', import.meta.url));
    try {
      torch = runPythonBench(script, [`${n}x${c}x${h}x${w}`, String(groups)]);
    } catch (e) {
      rep.say(`PyTorch GroupNorm benchmark failed: ${(e as Error).message}`);
    }
  }
  // median as asked of this line; the best sample too, the figure least disturbed by other processes
  const ts = timeIt(step, { warmup: 3, samples: 15, maxSeconds: 10 });
  for (const [stat, mine] of [['', median(ts) * 1e3], ['/best', Math.min(...ts) * 1e3]] as const) {
    const name = `gn_forward_backward/${tag}${stat}`;
    rep.report(`kernels/${name}`, mine, 'ms', `${stat === '' ? 'median' : 'best'}; wasm kernels, one thread`);
    const t = torch.find((m) => m.name === `torch/${name}`);
    if (t === undefined) continue;
    rep.report(t.name, t.value, 'ms', 'PyTorch 1 thread');
    rep.report(`kernels/${name}/vs_torch`, t.value / mine, 'x', 'speed ratio (> 1: ours faster); no target');
  }
  for (const a of [x, y, dy, dx, wt, b, stats, sums]) release(heapPointer(a));
}

export async function run(rep: Reporter, _argv: string[]): Promise<void> {
  const memcpy = memcpyGBs();
  rep.report('kernels/memcpy', memcpy, 'GB/s', '100 MB TypedArray.set, bytes copied per second');
  if (findTorchPython() === null) rep.say('PyTorch not found (python3 -c "import torch" fails): no torch/* figures or ratios');
  for (const shape of SHAPES) {
    const [n, c, h, w] = shape;
    const tag = shape.join('x');
    const len = n * c * h * w;
    const gb = (len * 4) / 1e9;
    const x = allocF32(len), y = allocF32(len), dy = allocF32(len), dx = allocF32(len);
    fillRandom(x, 1);
    fillRandom(dy, 2);
    for (const layout of LAYOUTS) {
      const torch = torchRun(rep, tag, layout);
      const st = steps(wasmKernels, { n, c, s: h * w, channelsLast: layout === 'nhwc' }, x, y, dy, dx);
      for (const what of WHAT) {
        const mine = gb / Math.min(...timeIt(st[what], { warmup: 2, samples: 11, maxSeconds: 6 }));
        rep.report(`kernels/${what}/${layout}/${tag}`, mine, 'GB/s');
        const t = torch.find((m) => m.name === `torch/${what}/${layout}/${tag}`);
        if (t === undefined) continue;
        rep.report(t.name, t.value, t.unit, 'PyTorch 1 thread, train mode');
        rep.report(`kernels/${what}/${layout}/${tag}/vs_torch`, mine / t.value, 'x', TARGET[`${what}/${layout}`] ?? '');
        if (what === 'bn_forward') rep.report(`kernels/bn_forward/${layout}/${tag}/vs_memcpy`, mine / memcpy, 'x', 'target ≥ 0.6');
      }
    }
    for (const a of [x, y, dy, dx]) release(heapPointer(a));
  }
  groupNormBench(rep);
}
