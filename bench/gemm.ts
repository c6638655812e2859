// Bench section `gemm`: GEMM and conv2d (forward, input and weight gradients) GFLOP/s of the wasm kernels, and
// PyTorch's (1 thread) on the same shapes.
import { wasmKernels } from '../src/kernels/index.js';
import type { ConvGeom, KernelSet } from '../src/kernels/index.js';
import { allocF32, heapPointer, release } from '../src/kernels/wasm/heap.js';
import { wasm } from '../src/kernels/wasm/instance.js';
import { type Reporter, median } from './util.js';
import { TorchServer, interleave } from './torch-server.js';

// Ours and PyTorch's calls alternate (scripts/bench_torch_conv.py served by bench/torch-server.ts): every figure is
// the median of interleaved samples, with its p90, and each ratio a ratio of the two medians.

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
  [256, 256, 256],
  [16, 1024, 144],
  [144, 1024, 16],
  [144, 16, 1024],
  [64, 3136, 576],
];

export function convGeom(s: ConvShape): ConvGeom {
  const out = Math.floor((s.h + 2 * s.pad - s.k) / s.stride) + 1;
  return {
    n: s.n,
    cIn: s.c,
    h: s.h,
    w: s.w,
    cOut: s.o,
    kh: s.k,
    kw: s.k,
    strideH: s.stride,
    strideW: s.stride,
    padH: s.pad,
    padW: s.pad,
    dilationH: 1,
    dilationW: 1,
    groups: 1,
    outH: out,
    outW: out,
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

type ConvPart = 'fwd' | 'bwd_input' | 'bwd_weight';

/** Forward, input gradient and weight gradient of one shape on heap tensors, and a release of the buffers. */
export function convCalls(k: KernelSet, g: ConvGeom): { calls: Record<ConvPart, () => void>; free(): void } {
  const x = filled(g.n * g.cIn * g.h * g.w, 1);
  const w = filled(g.cOut * (g.cIn / g.groups) * g.kh * g.kw, 2);
  const b = filled(g.cOut, 3);
  const y = allocF32(g.n * g.cOut * g.outH * g.outW);
  const dy = filled(y.length, 4);
  const dx = allocF32(x.length);
  const dw = filled(w.length, 5);
  const db = filled(g.cOut, 6);
  return {
    calls: {
      fwd: () => k.conv2dForward(y, x, w, b, g),
      bwd_input: () => k.conv2dBackwardInput(dx, dy, w, g),
      bwd_weight: () => k.conv2dBackwardWeight(dw, db, dy, x, g),
    },
    free: () => {
      for (const a of [x, w, b, y, dy, dx, dw, db]) release(heapPointer(a));
    },
  };
}

const PARTS: readonly ConvPart[] = ['fwd', 'bwd_input', 'bwd_weight'];
const SAMPLING = { warm: 3, rounds: 10, per: 3, maxSeconds: 3 };

/** Median seconds per call of each part (ours and, with a server, PyTorch's), sampled alternately. */
async function timeConv(
  k: KernelSet,
  g: ConvGeom,
  label: string,
  torch: TorchServer | null,
): Promise<{ ours: Record<ConvPart, number[]>; torch: Record<ConvPart, number[]> }> {
  const { calls, free } = convCalls(k, g);
  const ours = {} as Record<ConvPart, number[]>;
  const theirs = {} as Record<ConvPart, number[]>;
  try {
    for (const p of PARTS) {
      const t = await interleave(calls[p], torch, `conv/${label}/${p}`, SAMPLING);
      ours[p] = t.ours;
      theirs[p] = t.torch;
    }
  } finally {
    free();
  }
  return { ours, torch: theirs };
}

export async function run(rep: Reporter, argv: string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const shapes = quick ? CONV_SHAPES.slice(0, 2) : CONV_SHAPES;
  const torch = await TorchServer.start('bench_torch_conv.py', [JSON.stringify({ conv: shapes, gemm: GEMM_SHAPES })]);
  if (torch === null) rep.say('(torch not found: no PyTorch comparison)');
  const note = 'PyTorch 1 thread, interleaved';
  try {
    for (const [m, n, k] of GEMM_SHAPES) {
      const a = filled(m * k, 1),
        b = filled(k * n, 2),
        c = allocF32(m * n);
      const gflops = (s: number): number => (2 * m * n * k) / s / 1e9;
      const t = await interleave(
        () => wasmKernels.gemm(c, a, b, m, n, k, false, false, 1, 0),
        torch,
        `gemm/${m}x${n}x${k}`,
        SAMPLING,
      );
      rep.samples(`kernels/gemm_gflops/${m}x${n}x${k}`, t.ours, gflops, 'GFLOP/s');
      if (torch !== null) rep.samples(`torch/gemm_gflops/${m}x${n}x${k}`, t.torch, gflops, 'GFLOP/s', note);
      for (const x of [a, b, c]) release(heapPointer(x));
    }
    const med = new Map<string, { ours: Record<ConvPart, number>; torch: Record<ConvPart, number> | null }>();
    for (const s of shapes) {
      const g = convGeom(s);
      const f = convFlops(g) / 1e9;
      const t = await timeConv(wasmKernels, g, s.label, torch);
      const m = (r: Record<ConvPart, number[]>): Record<ConvPart, number> => ({
        fwd: median(r.fwd),
        bwd_input: median(r.bwd_input),
        bwd_weight: median(r.bwd_weight),
      });
      med.set(s.label, { ours: m(t.ours), torch: torch === null ? null : m(t.torch) });
      for (const p of PARTS) {
        const what = p === 'fwd' ? 'conv2d_fwd_gflops' : `conv2d_${p}_gflops`;
        rep.samples(`kernels/${what}/${s.label}`, t.ours[p], (sec) => f / sec, 'GFLOP/s');
        if (torch !== null) rep.samples(`torch/${what}/${s.label}`, t.torch[p], (sec) => f / sec, 'GFLOP/s', note);
      }
      // The same shape through the im2col path (what stride ≠ 1 uses), to show what the direct path buys.
      wasm.convForceIm2col!(1);
      try {
        const c = await timeConv(wasmKernels, g, s.label, null);
        rep.samples(`kernels/conv2d_fwd_gflops/${s.label}/im2col`, c.ours.fwd, (sec) => f / sec, 'GFLOP/s');
      } finally {
        wasm.convForceIm2col!(0);
      }
      const o = med.get(s.label)!;
      if (o.torch === null) continue;
      rep.report(
        `kernels/conv2d_fwd_time_vs_torch/${s.label}`,
        o.ours.fwd / o.torch.fwd,
        'x',
        'ours/torch time, < 1 = faster',
        'ratio of medians',
      );
      const bwd = (r: Record<ConvPart, number>): number => r.bwd_input + r.bwd_weight;
      rep.report(
        `kernels/conv2d_bwd_time_vs_torch/${s.label}`,
        bwd(o.ours) / bwd(o.torch),
        'x',
        '',
        'ratio of medians',
      );
    }
    // The tiny CNN's convolution work per training step: conv1 forward + weight gradient (the image needs no
    // gradient), conv2 forward + both gradients.
    const tiny = (side: 'ours' | 'torch'): number | null => {
      const c1 = med.get(CONV_SHAPES[0]!.label)?.[side];
      const c2 = med.get(CONV_SHAPES[1]!.label)?.[side];
      if (!c1 || !c2) return null;
      return (c1.fwd + c1.bwd_weight + c2.fwd + c2.bwd_input + c2.bwd_weight) * 1e3;
    };
    const mine = tiny('ours')!;
    rep.report('kernels/tiny_cnn_conv_ms', mine, 'ms', "sum of the parts' medians", 'sum of medians');
    const theirs = tiny('torch');
    if (theirs !== null) {
      rep.report('torch/tiny_cnn_conv_ms', theirs, 'ms', note, 'sum of medians');
      rep.report('kernels/tiny_cnn_conv_time_vs_torch', mine / theirs, 'x', '', 'ratio of sums');
    }
  } finally {
    torch?.close();
  }
}
