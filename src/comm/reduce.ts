// Element-wise reductions of the collectives (fixed, per-element: every rank computes the same bits) and how buffers
// are split among ranks.
import { nnWasm } from '../kernels/wasm/nn.js';
import { allocF32 } from '../kernels/wasm/heap.js';
import type { CommArray } from './types.js';

export type Reducer = (d: CommArray, at: number, s: CommArray) => void;

/**
 * Float32 sums of at least this many elements go to the wasm axpy kernel (y += 1·x in f32x4, the same
 * IEEE float32 sum as the loop bit for bit: a double-rounded f64 sum of two f32 values is the
 * correctly rounded one). Why: V8 runs `d[i] += s[i]` over Float32Arrays at ~0.45 G elements/s, which
 * made the reduce, not the copies, the limit of a large all-reduce. The kernel passes heap arrays by
 * pointer and copies others through heap blocks; slices of SUM_SLICE floats keep those blocks small.
 */
export const FAST_SUM_MIN = 2048;
const SUM_SLICE = 1 << 16;

// One monomorphic loop per (dtype, op): V8 keeps each specialised to its element kind.
function sum32(d: Float32Array, at: number, s: Float32Array): void {
  const n = s.length;
  if (n >= FAST_SUM_MIN) {
    for (let o = 0; o < n; o += SUM_SLICE) {
      const e = Math.min(n, o + SUM_SLICE);
      nnWasm.axpy(d.subarray(at + o, at + e), 1, s.subarray(o, e));
    }
    return;
  }
  for (let i = 0; i < n; i++) d[at + i] += s[i]!;
}
function sum64(d: Float64Array, at: number, s: Float64Array): void {
  for (let i = 0, n = s.length; i < n; i++) d[at + i] += s[i]!;
}
// max/min propagate NaN (b !== b), so the answer does not depend on which side held the NaN.
function max32(d: Float32Array, at: number, s: Float32Array): void {
  for (let i = 0, n = s.length; i < n; i++) {
    const b = s[i]!;
    if (b > d[at + i]! || b !== b) d[at + i] = b;
  }
}
function max64(d: Float64Array, at: number, s: Float64Array): void {
  for (let i = 0, n = s.length; i < n; i++) {
    const b = s[i]!;
    if (b > d[at + i]! || b !== b) d[at + i] = b;
  }
}
function min32(d: Float32Array, at: number, s: Float32Array): void {
  for (let i = 0, n = s.length; i < n; i++) {
    const b = s[i]!;
    if (b < d[at + i]! || b !== b) d[at + i] = b;
  }
}
function min64(d: Float64Array, at: number, s: Float64Array): void {
  for (let i = 0, n = s.length; i < n; i++) {
    const b = s[i]!;
    if (b < d[at + i]! || b !== b) d[at + i] = b;
  }
}
const REDUCERS = [
  [sum32, max32, min32],
  [sum64, max64, min64],
] as unknown as Reducer[][];

export function reducer(like: CommArray, op: number): Reducer {
  return REDUCERS[like instanceof Float64Array ? 1 : 0]![op]!;
}

/** d[at + i] ← d[at + i] op s[i] (s and d of the same dtype). */
export function reduceInto(d: CommArray, at: number, s: CommArray, op: number): void {
  reducer(d, op)(d, at, s);
}

/** Bytes of the per-transport heap scratch large reductions read into (half a per-core L2: docs/tuning.md). */
export const SCRATCH_BYTES = 512 << 10;
const scratches = new WeakMap<object, Uint8Array>();

/**
 * One heap block per transport (`owner`), allocated on first use and kept: a rank runs one
 * collective at a time, and in the heap the SIMD sum reads it by pointer.
 */
export function heapScratch(owner: object): Uint8Array {
  let s = scratches.get(owner);
  if (s === undefined) {
    const f = allocF32(SCRATCH_BYTES / 4);
    scratches.set(owner, (s = new Uint8Array(f.buffer, f.byteOffset, SCRATCH_BYTES)));
  }
  return s;
}

/** Segment g of a length-`len` buffer split n ways: [start, end). */
export function seg(len: number, n: number, g: number): [number, number] {
  return [Math.floor((g * len) / n), Math.floor(((g + 1) * len) / n)];
}
