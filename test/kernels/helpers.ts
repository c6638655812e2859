// Shared test helpers for the kernel suites: the backends under test, seeded random data, closeness checks.
import assert from 'node:assert/strict';
import { referenceKernels, wasmKernels } from '../../src/kernels/index.js';
import type { BNGeom, KernelSet } from '../../src/kernels/index.js';
import { reduceF64 } from '../helpers/bn-f64.js';

/** Every suite runs once per backend. */
export const BACKENDS: readonly KernelSet[] = [referenceKernels, wasmKernels];

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box–Muller). */
export function normal(r: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

export function randn(length: number, seed: number, mean = 0, std = 1): Float32Array {
  const g = normal(rng(seed));
  return Float32Array.from({ length }, () => mean + std * g());
}

function rms(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return a.length ? Math.sqrt(s / a.length) : 0;
}

/**
 * Element-wise |actual − expected| ≤ rtol·(|expected| + floor), floor = max(RMS of expected, scale):
 * a value that crosses zero is judged against the array's scale, not against ~0. `scale` covers
 * arrays that are all rounding noise (dx when the count is 2 is 0 in exact arithmetic): pass the
 * size of the terms that cancelled.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  label: string,
  scale = 0,
): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  const floor = Math.max(rms(expected), scale);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    const tol = rtol * (Math.abs(e) + floor);
    if (!(Math.abs(a - e) <= tol))
      assert.fail(`${label}[${i}]: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${tol})`);
  }
}

/** The variance of the float32 data, two-pass in float64 (independent of the kernels). */
export function exactVar(x: Float32Array, g: BNGeom): number[] {
  const res: number[] = [];
  for (let ch = 0; ch < g.c; ch++) {
    const vals: number[] = [];
    for (let i = 0; i < g.n; i++)
      for (let j = 0; j < g.s; j++) vals.push(x[g.channelsLast ? (i * g.s + j) * g.c + ch : (i * g.c + ch) * g.s + j]!);
    const mu = vals.reduce((a, b) => a + b, 0) / vals.length;
    res.push(vals.reduce((a, v) => a + (v - mu) ** 2, 0) / vals.length);
  }
  return res;
}

/** Both backward sums of kernel set K against the float64 reference; returns the reference. */
export function checkReduce(
  K: KernelSet,
  dy: Float32Array,
  x: Float32Array,
  mean: Float64Array,
  g: BNGeom,
  y: Float32Array | null,
  label: string,
): [Float64Array, Float64Array] {
  const a = new Float64Array(g.c);
  const b = new Float64Array(g.c);
  K.batchNormBackwardReduce(a, b, dy, x, mean, g, y);
  const [ar, br] = reduceF64(dy, x, mean, g, y);
  assertClose(a, ar, 1e-12, `${label} sumDy`);
  assertClose(b, br, 1e-9, `${label} sumDyXmu`);
  return [ar, br];
}
