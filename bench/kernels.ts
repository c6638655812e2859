// Batch-norm kernel throughput (GB/s of input) for both layouts, memcpy bandwidth and PyTorch's BatchNorm2d in the same
// run;
// GroupNorm forward + backward time next to PyTorch's (no target).
// Ours and PyTorch's samples alternate (scripts/bench_torch_bn.py, bench_torch_gn.py served by bench/torch-server.ts),
// so both see the same machine load; every figure is the median of its samples, with the p90 beside it. Like for
// like: neither side fuses ReLU, and PyTorch clears its gradients each call (ours writes dx into its buffer).
// Allocation differs: our outputs are preallocated, PyTorch allocates per call; `…/fresh_outputs` measures
// ours with an allocation and release of every output per call, to show what that difference is worth.
import { groupNormParamGrads, wasmKernels } from '../src/kernels/index.js';
import type { BNGeom, KernelSet } from '../src/kernels/index.js';
import { allocF32, allocF64, heapPointer, release } from '../src/kernels/wasm/heap.js';
import { type Reporter, median, timeIt } from './util.js';
import { TorchServer, interleave } from './torch-server.js';

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
  const t = median(timeIt(() => b.set(a), { warmup: 2, samples: 9, maxSeconds: 10 }));
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
  const mean = new Float64Array(c),
    m2 = new Float64Array(c);
  const gm = new Float64Array(c),
    vb = new Float64Array(c),
    vu = new Float64Array(c),
    inv = new Float64Array(c);
  const sDy = new Float64Array(c),
    sDyXmu = new Float64Array(c);
  const w = new Float32Array(c).fill(1),
    b = new Float32Array(c);
  const rm = new Float32Array(c),
    rv = new Float32Array(c).fill(1);
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

/** The forward+backward step with every output (y, dx) allocated and released per call, as PyTorch does. */
function freshOutputs(g: BNGeom, x: Float32Array, dy: Float32Array): () => void {
  return () => {
    const y = allocF32(x.length),
      dx = allocF32(x.length);
    steps(wasmKernels, g, x, y, dy, dx).bn_forward_backward();
    release(heapPointer(y));
    release(heapPointer(dx));
  };
}

/**
 * GroupNorm (the demo's no-batch-statistics baseline) on one NCHW shape: the five steps of one training step as the
 * autograd op runs them (stats, elemt; reduce, dγ/dβ, dx elemt) on heap tensors, interleaved with PyTorch's.
 */
async function groupNormBench(rep: Reporter): Promise<void> {
  const [n, c, h, w, groups] = [8, 64, 56, 56, 32] as const;
  const tag = `${n}x${c}x${h}x${w}/g${groups}`;
  const g = { n, c, s: h * w, groups };
  const len = n * c * h * w;
  const x = allocF32(len),
    y = allocF32(len),
    dy = allocF32(len),
    dx = allocF32(len);
  const stats = allocF64(2 * n * groups),
    sums = allocF64(2 * n * c);
  const wt = allocF32(c).fill(1),
    b = allocF32(c).fill(0),
    dw = new Float32Array(c),
    db = new Float32Array(c);
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
  const torch = await TorchServer.start('bench_torch_gn.py', [`${n}x${c}x${h}x${w}`, String(groups)]);
  try {
    const name = `gn_forward_backward/${tag}`;
    const t = await interleave(step, torch, name, { warm: 3, rounds: 8, per: 2, maxSeconds: 10 });
    const ms = (sec: number): number => sec * 1e3;
    rep.samples(`kernels/${name}`, t.ours, ms, 'ms', 'wasm kernels, one thread');
    if (torch !== null) {
      rep.samples(`torch/${name}`, t.torch, ms, 'ms', 'PyTorch 1 thread, interleaved');
      rep.report(
        `kernels/${name}/vs_torch`,
        median(t.torch) / median(t.ours),
        'x',
        'speed ratio (> 1: ours faster); no target',
        'ratio of medians',
      );
    }
  } finally {
    torch?.close();
  }
  for (const a of [x, y, dy, dx, wt, b, stats, sums]) release(heapPointer(a));
}

export async function run(rep: Reporter, _argv: string[]): Promise<void> {
  const memcpy = memcpyGBs();
  rep.report('kernels/memcpy', memcpy, 'GB/s', '100 MB TypedArray.set, bytes copied per second');
  const torch = await TorchServer.start('bench_torch_bn.py');
  if (torch === null) rep.say('PyTorch not found (python3 -c "import torch" fails): no torch/* figures or ratios');
  const note = 'PyTorch 1 thread, train mode, interleaved';
  try {
    for (const shape of SHAPES) {
      const [n, c, h, w] = shape;
      const tag = shape.join('x');
      const len = n * c * h * w;
      const gb = (len * 4) / 1e9;
      const rate = (s: number): number => gb / s;
      const x = allocF32(len),
        y = allocF32(len),
        dy = allocF32(len),
        dx = allocF32(len);
      fillRandom(x, 1);
      fillRandom(dy, 2);
      for (const layout of LAYOUTS) {
        const g = { n, c, s: h * w, channelsLast: layout === 'nhwc' };
        const st = steps(wasmKernels, g, x, y, dy, dx);
        for (const what of WHAT) {
          const name = `${what}/${layout}/${tag}`;
          const t = await interleave(st[what], torch, name, { warm: 2, rounds: 6, per: 2, maxSeconds: 8 });
          rep.samples(`kernels/${name}`, t.ours, rate, 'GB/s');
          if (torch === null) continue;
          rep.samples(`torch/${name}`, t.torch, rate, 'GB/s', note);
          const ratio = median(t.torch) / median(t.ours);
          rep.report(`kernels/${name}/vs_torch`, ratio, 'x', TARGET[`${what}/${layout}`] ?? '', 'ratio of medians');
          if (what === 'bn_forward') {
            rep.report(
              `kernels/bn_forward/${layout}/${tag}/vs_memcpy`,
              rate(median(t.ours)) / memcpy,
              'x',
              'target ≥ 0.6',
              'ratio of medians',
            );
          }
        }
        const fresh = timeIt(freshOutputs(g, x, dy), { warmup: 2, samples: 9, maxSeconds: 6 });
        rep.samples(
          `kernels/bn_forward_backward/${layout}/${tag}/fresh_outputs`,
          fresh,
          rate,
          'GB/s',
          'y and dx allocated per call',
        );
      }
      for (const a of [x, y, dy, dx]) release(heapPointer(a));
    }
  } finally {
    torch?.close();
  }
  await groupNormBench(rep);
}
