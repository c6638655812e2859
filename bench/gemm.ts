// Bench section `gemm`: GEMM and conv2d (forward, input and weight gradients) GFLOP/s of the wasm kernels, and PyTorch's (1 thread) on the same shapes.
import { fileURLToPath } from 'node:url';
import { wasmKernels } from '../src/kernels/index.js';
import type { ConvGeom, KernelSet } from '../src/kernels/index.js';
import { allocF32, heapPointer, release } from '../src/tensor/heap.js';
import { wasm } from '../src/kernels/wasm/instance.js';
import { Reporter, runPythonBench, timeIt } from './util.js';

// Best of N (not the median): the machine is shared, and the fastest run is the one least disturbed by
// others; torch_conv.py reports its best run the same way.
const best = (xs: number[]): number => Math.min(...xs);

/** A square-kernel conv shape as the benchmark names it. */
export interface ConvShape {
  label: string;
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  k: number;
  pad: number;
  stride: number;
}

/** The tiny CNN of issue 4 (batch 8 of 3×32×32) and a ResNet-style block (64 channels, 56×56, batch 8). */
export const CONV_SHAPES: readonly ConvShape[] = [
  { label: 'tiny_conv1_c3o16_32x32_n8', n: 8, c: 3, h: 32, w: 32, o: 16, k: 3, pad: 1, stride: 1 },
  { label: 'tiny_conv2_c16o16_32x32_n8', n: 8, c: 16, h: 32, w: 32, o: 16, k: 3, pad: 1, stride: 1 },
  { label: 'resnet_c64o64_56x56_n8', n: 8, c: 64, h: 56, w: 56, o: 64, k: 3, pad: 1, stride: 1 },
];

/** GEMM shapes: a square one and the tiny-CNN conv2 / ResNet conv reductions seen as GEMMs (M×N×K). */
export const GEMM_SHAPES: ReadonlyArray<[number, number, number]> = [
  [256, 256, 256], [16, 1024, 144], [144, 1024, 16], [144, 16, 1024], [64, 3136, 576],
];

export function convGeom(s: ConvShape): ConvGeom {
  const out = Math.floor((s.h + 2 * s.pad - s.k) / s.stride) + 1;
  return {
    n: s.n, cIn: s.c, h: s.h, w: s.w, cOut: s.o, kh: s.k, kw: s.k, strideH: s.stride, strideW: s.stride,
    padH: s.pad, padW: s.pad, dilationH: 1, dilationW: 1, groups: 1, outH: out, outW: out,
  };
}

/** Multiply-adds ×2 of one conv pass (each of forward, input gradient, weight gradient costs the same). */
export function convFlops(g: ConvGeom): number {
  return 2 * g.n * g.cOut * g.outH * g.outW * (g.cIn / g.groups) * g.kh * g.kw;
}

function filled(len: number, seed: number): Float32Array {
  const a = allocF32(len);
  for (let i = 0; i < len; i++) a[i] = Math.sin(i * 12.9898 + seed) * 0.5;
  return a;
}

/** Best seconds of forward, input gradient and weight gradient on heap tensors. */
export function timeConv(k: KernelSet, g: ConvGeom, maxSeconds = 3): { fwd: number; bwdInput: number; bwdWeight: number } {
  const x = filled(g.n * g.cIn * g.h * g.w, 1);
  const w = filled(g.cOut * (g.cIn / g.groups) * g.kh * g.kw, 2);
  const b = filled(g.cOut, 3);
  const y = allocF32(g.n * g.cOut * g.outH * g.outW);
  const dy = filled(y.length, 4);
  const dx = allocF32(x.length);
  const dw = filled(w.length, 5);
  const db = filled(g.cOut, 6);
  const opts = { warmup: 2, samples: 60, maxSeconds };
  const r = {
    fwd: best(timeIt(() => k.conv2dForward(y, x, w, b, g), opts)),
    bwdInput: best(timeIt(() => k.conv2dBackwardInput(dx, dy, w, g), opts)),
    bwdWeight: best(timeIt(() => k.conv2dBackwardWeight(dw, db, dy, x, g), opts)),
  };
  for (const a of [x, w, b, y, dy, dx, dw, db]) release(heapPointer(a));
  return r;
}

/** Best seconds of C = A·B (row-major, no transposes) on heap arrays. */
export function timeGemm(k: KernelSet, m: number, n: number, kk: number): number {
  const a = filled(m * kk, 1);
  const b = filled(kk * n, 2);
  const c = allocF32(m * n);
  const t = best(timeIt(() => k.gemm(c, a, b, m, n, kk, false, false, 1, 0), { warmup: 2, samples: 60, maxSeconds: 2 }));
  for (const x of [a, b, c]) release(heapPointer(x));
  return t;
}

export async function run(rep: Reporter, argv: string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const shapes = quick ? CONV_SHAPES.slice(0, 2) : CONV_SHAPES;
  for (const [m, n, k] of GEMM_SHAPES) {
    rep.report(`kernels/gemm_gflops/${m}x${n}x${k}`, (2 * m * n * k) / timeGemm(wasmKernels, m, n, k) / 1e9, 'GFLOP/s');
  }
  const ours = new Map<string, { fwd: number; bwdInput: number; bwdWeight: number }>();
  for (const s of shapes) {
    const g = convGeom(s);
    const f = convFlops(g) / 1e9;
    const t = timeConv(wasmKernels, g);
    ours.set(s.label, t);
    rep.report(`kernels/conv2d_fwd_gflops/${s.label}`, f / t.fwd, 'GFLOP/s', `${(t.fwd * 1e3).toFixed(2)} ms`);
    rep.report(`kernels/conv2d_bwd_input_gflops/${s.label}`, f / t.bwdInput, 'GFLOP/s', `${(t.bwdInput * 1e3).toFixed(2)} ms`);
    rep.report(`kernels/conv2d_bwd_weight_gflops/${s.label}`, f / t.bwdWeight, 'GFLOP/s', `${(t.bwdWeight * 1e3).toFixed(2)} ms`);
    rep.report(`kernels/conv2d_bwd_gflops/${s.label}`, (2 * f) / (t.bwdInput + t.bwdWeight), 'GFLOP/s');
    // The same shape through the im2col path (what stride ≠ 1 uses), to show what the direct path buys.
    wasm.conv_force_im2col!(1);
    try {
      const c = timeConv(wasmKernels, g, 2);
      rep.report(`kernels/conv2d_fwd_gflops/${s.label}/im2col`, f / c.fwd, 'GFLOP/s');
      rep.report(`kernels/conv2d_bwd_gflops/${s.label}/im2col`, (2 * f) / (c.bwdInput + c.bwdWeight), 'GFLOP/s');
    } finally {
      wasm.conv_force_im2col!(0);
    }
  }
  // The tiny CNN's convolution work per training step: conv1 forward + weight gradient (the image needs no
  // gradient), conv2 forward + both gradients.
  const c1 = ours.get(CONV_SHAPES[0]!.label)!;
  const c2 = ours.get(CONV_SHAPES[1]!.label)!;
  const tinyMs = (c1.fwd + c1.bwdWeight + c2.fwd + c2.bwdInput + c2.bwdWeight) * 1e3;
  rep.report('kernels/tiny_cnn_conv_ms', tinyMs, 'ms');

  const script = fileURLToPath(new URL('../../bench/torch_conv.py', import.meta.url));
  const spec = { conv: shapes, gemm: GEMM_SHAPES };
  const torch = runPythonBench(script, [JSON.stringify(spec)]);
  if (torch.length === 0) {
    rep.say('(torch not found: no PyTorch comparison)');
    return;
  }
  for (const m of torch) if (!m.name.startsWith('torch/conv2d_ms/')) rep.report(m.name, m.value, m.unit);
  const tms = (label: string, part: string): number => torch.find((m) => m.name === `torch/conv2d_ms/${label}/${part}`)!.value;
  for (const s of shapes) {
    const t = ours.get(s.label)!;
    rep.report(`kernels/conv2d_fwd_time_vs_torch/${s.label}`, (t.fwd * 1e3) / tms(s.label, 'fwd'), 'x', 'ours/torch time, < 1 = faster');
    rep.report(`kernels/conv2d_bwd_time_vs_torch/${s.label}`, ((t.bwdInput + t.bwdWeight) * 1e3) / (tms(s.label, 'bwd_input') + tms(s.label, 'bwd_weight')), 'x');
  }
  const l1 = CONV_SHAPES[0]!.label, l2 = CONV_SHAPES[1]!.label;
  const torchTiny = tms(l1, 'fwd') + tms(l1, 'bwd_weight') + tms(l2, 'fwd') + tms(l2, 'bwd_input') + tms(l2, 'bwd_weight');
  rep.report('torch/tiny_cnn_conv_ms', torchTiny, 'ms');
  rep.report('kernels/tiny_cnn_conv_time_vs_torch', tinyMs / torchTiny, 'x');
}
