// The wasm ceiling of a training step: its convolution FLOPs at our GEMM micro-kernel's best in-cache rate plus the
// rest of its traffic at our streaming bandwidth, the work taken from the kernel calls one step actually makes.
import { kernels, setKernels, wasmKernels, type KernelSet, type ConvGeom } from '../src/kernels/index.js';
import { allocF32, heapPointer, release } from '../src/kernels/wasm/heap.js';
import { median, timeIt } from './util.js';
import { convFlops } from './gemm.js';

/** The kernel set with every call reported to `seen(method, args, ms)` after it ran. */
export function traced(base: KernelSet, seen: (method: string, args: unknown[], ms: number) => void): KernelSet {
  const out = { name: base.name } as Record<string, unknown>;
  for (const [m, f] of Object.entries(base)) {
    if (typeof f !== 'function') continue;
    out[m] = (...args: unknown[]): unknown => {
      const t = performance.now();
      const r = (f as (...a: unknown[]) => unknown)(...args);
      seen(m, args, performance.now() - t);
      return r;
    };
  }
  return out as unknown as KernelSet;
}

/** The conv geometry among a kernel call's arguments, if any. */
export function convGeomArg(args: unknown[]): ConvGeom | undefined {
  return args.find((a) => a !== null && typeof a === 'object' && 'kh' in a) as ConvGeom | undefined;
}

/** The work of one step: conv FLOPs (every pass run) and the bytes the other kernels read and write, each once. */
export interface StepWork {
  convFlops: number;
  otherBytes: number;
}

/** Runs `step` once with traced kernels and adds up its work. */
export function stepWork(step: () => void): StepWork {
  const w: StepWork = { convFlops: 0, otherBytes: 0 };
  const base = kernels();
  setKernels(
    traced(base, (m, args) => {
      const g = convGeomArg(args);
      if (g !== undefined && m.startsWith('conv2d')) w.convFlops += convFlops(g);
      else for (const a of args) if (ArrayBuffer.isView(a)) w.otherBytes += a.byteLength;
    }),
  );
  try {
    step();
  } finally {
    setKernels(base);
  }
  return w;
}

/** In-cache GEMMs (M×N×K, K ≤ the micro-kernel's KC = 256, ≤ 200 KB in all): its sustained rate. */
const PEAK_SHAPES: ReadonlyArray<[number, number, number]> = [
  [64, 256, 64],
  [32, 512, 128],
  [128, 128, 256],
];

function filled(len: number): Float32Array {
  const a = allocF32(len);
  for (let i = 0; i < len; i++) a[i] = Math.sin(i * 12.9898) * 0.5;
  return a;
}

/** The best median GFLOP/s of our wasm GEMM over in-cache shapes. */
export function gemmPeakGflops(): number {
  let best = 0;
  for (const [m, n, k] of PEAK_SHAPES) {
    const a = filled(m * k),
      b = filled(k * n),
      c = allocF32(m * n);
    const gemm = (): void => wasmKernels.gemm(c, a, b, m, n, k, false, false, 1, 0);
    const t = timeIt(gemm, { warmup: 20, samples: 15, inner: 20, maxSeconds: 2 });
    best = Math.max(best, (2 * m * n * k) / median(t) / 1e9);
    for (const x of [a, b, c]) release(heapPointer(x));
  }
  return best;
}

/** GB/s of our SIMD add (two reads, one write) on arrays of `len` floats. */
export function streamGBps(len: number): number {
  const a = filled(len),
    b = filled(len),
    c = allocF32(len);
  const t = timeIt(() => wasmKernels.add(c, a, b), { warmup: 10, samples: 15, inner: 10, maxSeconds: 2 });
  for (const x of [a, b, c]) release(heapPointer(x));
  return (3 * 4 * len) / median(t) / 1e9;
}

/** Milliseconds of the ceiling: FLOPs at `gflops`, bytes at `gbps`. */
export function ceilingMs(w: StepWork, extraBytes: number, gflops: number, gbps: number): number {
  return (w.convFlops / (gflops * 1e9) + (w.otherBytes + extraBytes) / (gbps * 1e9)) * 1e3;
}
