// Shared helpers for the nn kernel tests: seeded data, float64 naive math, float32-aware closeness, heap staging.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { allocF32, heapPointer, release } from '../../src/kernels/wasm/heap.js';
import { referenceKernels, wasmKernels } from '../../src/kernels/index.js';
import type { ConvGeom, KernelSet } from '../../src/kernels/index.js';

export const BACKENDS: readonly KernelSet[] = [referenceKernels, wasmKernels];

/** Deterministic standard-normal-ish values (mulberry32 + Box-Muller), rounded to float32. */
export function randn(len: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/**
 * float32 closeness against a float64 (or other backend's) answer: a sum of k products in float32
 * errs by about eps·sqrt(k)·rms, so |got − want| ≤ tol·sqrt(k)·(rms(want) + |want|) with tol = 1e-5
 * leaves ~100× margin over rounding yet catches any wrong index or missing term (errors ~ rms).
 */
export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  k: number,
  what: string,
  tol = 1e-5,
): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let ss = 0;
  for (let i = 0; i < want.length; i++) ss += want[i]! * want[i]!;
  const rms = want.length ? Math.sqrt(ss / want.length) : 0;
  const bound = tol * Math.sqrt(Math.max(k, 1));
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w))) continue;
    const err = Math.abs(g - w);
    if (!(err <= bound * (rms + Math.abs(w)))) {
      assert.fail(`${what}: element ${i} is ${g}, expected ${w} (error ${err}, bound ${bound * (rms + Math.abs(w))})`);
    }
  }
}

/** Copy into the wasm heap (placement 'heap') or keep a plain JS array ('js'); `free` releases heap copies. */
export class Placer {
  private readonly held: Float32Array[] = [];
  constructor(readonly where: 'heap' | 'js') {}
  put(a: Float32Array): Float32Array {
    if (this.where === 'js') return Float32Array.from(a);
    const h = allocF32(a.length);
    h.set(a);
    this.held.push(h);
    return h;
  }
  zeros(len: number): Float32Array {
    return this.put(new Float32Array(len));
  }
  free(): void {
    for (const h of this.held.splice(0)) release(heapPointer(h));
  }
}

/** Float64 naive GEMM on op(A)·op(B) (the independent check for both backends). */
export function naiveGemm(
  a: Float32Array,
  b: Float32Array,
  m: number,
  n: number,
  k: number,
  ta: boolean,
  tb: boolean,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (ta ? a[p * m + i]! : a[i * k + p]!) * (tb ? b[j * k + p]! : b[p * n + j]!);
      c[i * n + j] = s;
    }
  }
  return c;
}

export function convGeom(
  n: number,
  cIn: number,
  h: number,
  w: number,
  cOut: number,
  kh: number,
  kw: number,
  o: { stride?: [number, number]; pad?: [number, number]; dil?: [number, number]; groups?: number } = {},
): ConvGeom {
  const [strideH, strideW] = o.stride ?? [1, 1];
  const [padH, padW] = o.pad ?? [0, 0];
  const [dilationH, dilationW] = o.dil ?? [1, 1];
  const outH = Math.floor((h + 2 * padH - dilationH * (kh - 1) - 1) / strideH) + 1;
  const outW = Math.floor((w + 2 * padW - dilationW * (kw - 1) - 1) / strideW) + 1;
  return {
    n,
    cIn,
    h,
    w,
    cOut,
    kh,
    kw,
    strideH,
    strideW,
    padH,
    padW,
    dilationH,
    dilationW,
    groups: o.groups ?? 1,
    outH,
    outW,
  };
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export interface Fixtures {
  conv: Array<{
    geom: ConvGeom;
    x: number[];
    weight: number[];
    bias: number[] | null;
    dy: number[];
    out: number[];
    dx: number[];
    dw: number[];
    dbias: number[] | null;
  }>;
  pool: Array<{
    kind: 'max' | 'avg';
    geom: {
      n: number;
      c: number;
      h: number;
      w: number;
      kh: number;
      kw: number;
      strideH: number;
      strideW: number;
      padH: number;
      padW: number;
      outH: number;
      outW: number;
    };
    x: number[];
    dy: number[];
    out: number[];
    dx: number[];
    argmax: number[] | null;
  }>;
  upsample: Array<{
    n: number;
    c: number;
    h: number;
    w: number;
    outH: number;
    outW: number;
    x: number[];
    dy: number[];
    out: number[];
    dx: number[];
  }>;
}

/** fixtures/nn_kernels.json, generated by scripts/gen_nn_kernel_fixtures.py (PyTorch 1.13). */
export function loadFixtures(): Fixtures {
  return JSON.parse(readFileSync(new URL('../../../fixtures/nn_kernels.json', import.meta.url), 'utf8')) as Fixtures;
}
