// WebAssembly SIMD GEMM, convolution, pooling and elementwise kernels (bindings over wasm/gemm.ts, wasm/conv.ts,
// wasm/nn.ts). OWNER: issue 4.
import type { ConvGeom, NNKernels, PoolGeom } from '../types.js';
import { memory, wasm } from './instance.js';
import { alloc, heapPointer, release } from './heap.js';

// ---- argument staging: heap arrays go by pointer; others are copied through heap blocks (correct, slower) ----

type Arr = Float32Array | Int32Array;
const staged: number[] = [];
const copyBack: Array<[Arr, number]> = [];

function bytesOf(a: Arr): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
function stage(a: Arr, copyIn: boolean, copyOut: boolean): number {
  const p = heapPointer(a);
  if (p >= 0) return p;
  const q = alloc(a.byteLength);
  staged.push(q);
  if (copyIn) new Uint8Array(memory.buffer, q, a.byteLength).set(bytesOf(a));
  if (copyOut) copyBack.push([a, q]);
  return q;
}
/** Read-only input. */
const I = (a: Arr): number => stage(a, true, false);
/** Written without being read. */
const O = (a: Arr): number => stage(a, false, true);
/** Read and written (accumulated). */
const IO = (a: Arr): number => stage(a, true, true);
/** Copy staged outputs back and free every staged block (also after a trap). */
function done(): void {
  for (const [a, q] of copyBack.splice(0)) bytesOf(a).set(new Uint8Array(memory.buffer, q, a.byteLength));
  for (const q of staged.splice(0)) release(q);
}
function call<T>(fn: () => T): T {
  try {
    return fn();
  } finally {
    if (staged.length) done();
  }
}

// ---- scratch for column blocks: one heap block, grown when a call needs more, reused forever ----

let scratchPtr = -1;
let scratchBytes = 0;
function scratch(bytes: number): number {
  if (bytes > scratchBytes) {
    if (scratchPtr >= 0) release(scratchPtr);
    scratchPtr = alloc(bytes);
    scratchBytes = bytes;
  }
  return scratchPtr;
}

/** Hand the geometry to the module and size the scratch (0 forward, 1 input gradient, 2 weight gradient). */
function setup(g: ConvGeom, which: number): number {
  wasm.convGeometry!(
    g.n,
    g.cIn,
    g.h,
    g.w,
    g.cOut,
    g.kh,
    g.kw,
    g.strideH,
    g.strideW,
    g.padH,
    g.padW,
    g.dilationH,
    g.dilationW,
    g.groups,
    g.outH,
    g.outW,
  );
  return scratch(wasm.conv2dScratchBytes!(which));
}

function poolArgs(g: PoolGeom): number[] {
  return [g.n * g.c, g.h, g.w, g.kh, g.kw, g.strideH, g.strideW, g.padH, g.padW, g.outH, g.outW];
}

const ADD = 0,
  AXPY = 1,
  SCALE = 2,
  RELU = 3,
  RELU_BACK = 4;

export const nnWasm: NNKernels = {
  gemm(c, a, b, m, n, k, transA, transB, alpha, beta) {
    if (m === 0 || n === 0) return;
    call(() => wasm.sgemm!(beta === 0 ? O(c) : IO(c), I(a), I(b), m, n, k, +transA, +transB, alpha, beta));
  },
  conv2dForward(out, x, weight, bias, g) {
    const s = setup(g, 0);
    call(() => wasm.conv2dForward!(O(out), I(x), I(weight), bias === null ? 0 : I(bias), s));
  },
  conv2dBackwardInput(dx, dy, weight, g) {
    const s = setup(g, 1);
    call(() => wasm.conv2dBackwardInput!(O(dx), I(dy), I(weight), s));
  },
  conv2dBackwardWeight(dw, dbias, dy, x, g) {
    const s = setup(g, 2);
    call(() => wasm.conv2dBackwardWeight!(IO(dw), dbias === null ? 0 : IO(dbias), I(dy), I(x), s));
  },
  maxPool2dForward(out, argmax, x, g) {
    call(() => wasm.maxPool2dForward!(O(out), O(argmax), I(x), ...poolArgs(g)));
  },
  maxPool2dBackward(dx, dy, argmax, g) {
    call(() => wasm.maxPool2dBackward!(O(dx), I(dy), I(argmax), g.n * g.c, g.h * g.w, g.outH * g.outW));
  },
  avgPool2dForward(out, x, g) {
    call(() => wasm.avgPool2d!(0, O(out), I(x), ...poolArgs(g)));
  },
  avgPool2dBackward(dx, dy, g) {
    call(() => wasm.avgPool2d!(1, I(dy), O(dx), ...poolArgs(g)));
  },
  upsampleBilinearForward(out, x, n, c, h, w, outH, outW) {
    call(() => wasm.upsampleBilinear!(0, O(out), I(x), n * c, h, w, outH, outW));
  },
  upsampleBilinearBackward(dx, dy, n, c, h, w, outH, outW) {
    call(() => wasm.upsampleBilinear!(1, I(dy), O(dx), n * c, h, w, outH, outW));
  },
  softmaxPlanes(p, mz, x, n, k, s) {
    call(() => wasm.softmaxPlanes!(O(p), O(mz), I(x), n, k, s));
  },
  softmaxPlanesBackward(dx, p, w, tgt, n, k, s) {
    call(() => wasm.softmaxPlanesBackward!(O(dx), I(p), I(w), I(tgt), n, k, s));
  },
  add(out, a, b) {
    call(() => wasm.elementwise!(ADD, O(out), I(a), I(b), 0, out.length));
  },
  axpy(y, alpha, x) {
    call(() => {
      const py = IO(y);
      return wasm.elementwise!(AXPY, py, I(x), py, alpha, y.length);
    });
  },
  scale(out, x, alpha) {
    call(() => wasm.elementwise!(SCALE, O(out), I(x), 0, alpha, out.length));
  },
  reluForward(out, x) {
    call(() => wasm.elementwise!(RELU, O(out), I(x), 0, 0, out.length));
  },
  reluBackward(dx, dy, y) {
    call(() => wasm.elementwise!(RELU_BACK, O(dx), I(y), I(dy), 0, dx.length));
  },
  sum(x, start = 0, end = x.length) {
    const p = heapPointer(x); // heap arrays go straight in: no staging closure on this per-plane hot path
    if (p >= 0) return wasm.sumF32!(p + start * 4, end - start);
    return call(() => wasm.sumF32!(I(x) + start * 4, end - start));
  },
};
