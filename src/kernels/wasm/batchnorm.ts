// WebAssembly SIMD batch-norm kernels (bindings over wasm/bn.ts): heap arrays by pointer, others staged through
// scratch.
import type { BatchNormKernels, BNGeom } from '../types.js';
import { wasm } from './instance.js';
import { f32View, f64View, withScratch } from './heap.js';
import { land, place, putF64, type Take } from './stage.js';

/**
 * Layout the kernels see. With s = 1 both layouts are the same rows of c; with c = 1 both are runs of s:
 * pick the one whose vector loop has the long contiguous stretch.
 */
function layoutCL(g: BNGeom): number {
  if (g.s === 1) return 1;
  if (g.c === 1) return 0;
  return g.channelsLast ? 1 : 0;
}

const c4 = (c: number): number => (c + 3) & ~3;

/** Per-channel float32 constant blocks of c4 floats each (the layout wasm/bn.ts reads). */
function constBlocks(
  take: Take,
  c: number,
  blocks: number,
  fill: (ch: number, out: Float32Array, stride: number) => void,
): number {
  const stride = c4(c);
  const p = take(blocks * stride * 4);
  const v = f32View(p, blocks * stride);
  v.fill(0);
  for (let ch = 0; ch < c; ch++) fill(ch, v, stride);
  return p;
}

/** μ as μhi + μlo in float32, so x − μ keeps its digits in float32 arithmetic. */
function splitMean(mu: number): [number, number] {
  const hi = Math.fround(mu);
  return [hi, Math.fround(mu - hi)];
}

function shiftedSums(sum: Float64Array, sumSq: Float64Array, shift: Float64Array, x: Float32Array, g: BNGeom): void {
  withScratch((take) => {
    const xp = place(take, x, true);
    const kp = putF64(take, shift);
    const s1 = take(g.c * 8);
    const s2 = take(g.c * 8);
    wasm.bnSums!(xp, g.n, g.c, g.s, layoutCL(g), kp, s1, s2);
    sum.set(f64View(s1, g.c));
    sumSq.set(f64View(s2, g.c));
  });
}

function batchNormStats(mean: Float64Array, m2: Float64Array, x: Float32Array, g: BNGeom): void {
  const count = g.n * g.s;
  if (count === 0 || g.c === 0) {
    mean.fill(0);
    m2.fill(0);
    return;
  }
  // Shift by the channel's first value: sums of (x − K) in float64, then μ = K + s1/n, M2 = s2 − s1²/n.
  const shift = new Float64Array(g.c);
  for (let ch = 0; ch < g.c; ch++) shift[ch] = x[g.channelsLast ? ch : ch * g.s]!;
  const s1 = new Float64Array(g.c);
  const s2 = new Float64Array(g.c);
  shiftedSums(s1, s2, shift, x, g);
  for (let ch = 0; ch < g.c; ch++) {
    mean[ch] = shift[ch]! + s1[ch]! / count;
    m2[ch] = Math.max(0, s2[ch]! - (s1[ch]! * s1[ch]!) / count);
  }
}

function batchNormSums(sum: Float64Array, sumSq: Float64Array, x: Float32Array, g: BNGeom): void {
  if (g.n * g.s === 0 || g.c === 0) {
    sum.fill(0);
    sumSq.fill(0);
    return;
  }
  shiftedSums(sum, sumSq, new Float64Array(g.c), x, g);
}

function batchNormGatherStats(
  mean: Float64Array,
  varBiased: Float64Array,
  varUnbiased: Float64Array,
  invstd: Float64Array,
  shards: ReadonlyArray<{ count: number; mean: Float64Array; m2: Float64Array }>,
  eps: number,
): number {
  const c = mean.length;
  const k = shards.length;
  return withScratch((take) => {
    const counts = putF64(
      take,
      shards.map((sh) => sh.count),
    );
    const means = take(k * c * 8);
    const m2s = take(k * c * 8);
    shards.forEach((sh, i) => {
      f64View(means + i * c * 8, c).set(sh.mean);
      f64View(m2s + i * c * 8, c).set(sh.m2);
    });
    const out = take(4 * c * 8);
    const total = wasm.bnGather!(out, out + c * 8, out + 2 * c * 8, out + 3 * c * 8, counts, means, m2s, k, c, eps);
    mean.set(f64View(out, c));
    varBiased.set(f64View(out + c * 8, c));
    varUnbiased.set(f64View(out + 2 * c * 8, c));
    invstd.set(f64View(out + 3 * c * 8, c));
    return total;
  });
}

function batchNormElemt(
  out: Float32Array,
  x: Float32Array,
  mean: Float64Array,
  invstd: Float64Array,
  weight: Float32Array | null,
  bias: Float32Array | null,
  g: BNGeom,
  relu: boolean,
): void {
  if (x.length === 0) return;
  withScratch((take) => {
    const xp = place(take, x, true);
    const op = out === x ? xp : place(take, out, false);
    let fast = 1;
    const cst = constBlocks(take, g.c, 5, (ch, v, st) => {
      const [hi, lo] = splitMean(mean[ch]!);
      const scale = invstd[ch]! * (weight === null ? 1 : weight[ch]!);
      const b = bias === null ? 0 : bias[ch]!;
      v[ch] = hi;
      v[st + ch] = lo;
      v[2 * st + ch] = scale;
      v[3 * st + ch] = b;
      v[4 * st + ch] = b - mean[ch]! * scale;
      // x·scale + shift rounds x·scale, an error of |μ|·invstd·2⁻²⁴ in units of σ: allowed up to 16
      if (!(Math.abs(mean[ch]! * invstd[ch]!) <= 16)) fast = 0;
    });
    wasm.bnElemt!(op, xp, cst, g.n, g.c, g.s, layoutCL(g), relu ? 1 : 0, fast);
    land(out, op);
  });
}

function batchNormBackwardReduce(
  sumDy: Float64Array,
  sumDyXmu: Float64Array,
  dy: Float32Array,
  x: Float32Array,
  mean: Float64Array,
  g: BNGeom,
  y: Float32Array | null,
): void {
  if (x.length === 0) {
    sumDy.fill(0);
    sumDyXmu.fill(0);
    return;
  }
  withScratch((take) => {
    const dyp = place(take, dy, true);
    const xp = place(take, x, true);
    const yp = y === null ? 0 : place(take, y, true);
    const mp = putF64(take, mean);
    const a = take(g.c * 8);
    const b = take(g.c * 8);
    wasm.bnBwdReduce!(a, b, dyp, xp, mp, yp, g.n, g.c, g.s, layoutCL(g));
    sumDy.set(f64View(a, g.c));
    sumDyXmu.set(f64View(b, g.c));
  });
}

function batchNormBackwardElemt(
  dx: Float32Array,
  dy: Float32Array,
  x: Float32Array,
  mean: Float64Array,
  invstd: Float64Array,
  weight: Float32Array | null,
  sumDy: Float64Array,
  sumDyXmu: Float64Array,
  count: number,
  g: BNGeom,
  y: Float32Array | null,
): void {
  if (x.length === 0) return;
  withScratch((take) => {
    const dyp = place(take, dy, true);
    const xp = place(take, x, true);
    const yp = y === null ? 0 : place(take, y, true);
    const dxp = dx === dy ? dyp : dx === x ? xp : place(take, dx, false);
    let fast = 1;
    const cst = constBlocks(take, g.c, 8, (ch, v, st) => {
      const mu = mean[ch]!;
      const [hi, lo] = splitMean(mu);
      const is = invstd[ch]!;
      const k = (is * is * sumDyXmu[ch]!) / count;
      const md = sumDy[ch]! / count;
      const a = is * (weight === null ? 1 : weight[ch]!);
      v[ch] = hi;
      v[st + ch] = lo;
      v[2 * st + ch] = k;
      v[3 * st + ch] = md;
      v[4 * st + ch] = a;
      // the three-constant form dx = dy·a + x·(−a·k) + a·(k·μ − mean(dy)); exact form when |μ|·invstd > 16
      v[5 * st + ch] = a;
      v[6 * st + ch] = -a * k;
      v[7 * st + ch] = a * (k * mu - md);
      if (!(Math.abs(mu * is) <= 16)) fast = 0;
    });
    wasm.bnBwdElemt!(dxp, dyp, xp, yp, cst, g.n, g.c, g.s, layoutCL(g), fast);
    land(dx, dxp);
  });
}

function batchNormUpdateRunning(
  runningMean: Float32Array,
  runningVar: Float32Array,
  mean: Float64Array,
  varUnbiased: Float64Array,
  momentum: number | null,
  numBatchesTracked: number,
): void {
  const c = runningMean.length;
  withScratch((take) => {
    const rm = place(take, runningMean, true);
    const rv = place(take, runningVar, true);
    wasm.bnUpdateRunning!(
      rm,
      rv,
      putF64(take, mean),
      putF64(take, varUnbiased),
      c,
      momentum === null ? 1 / numBatchesTracked : momentum,
    );
    land(runningMean, rm);
    land(runningVar, rv);
  });
}

export const batchNormWasm: BatchNormKernels = {
  batchNormStats,
  batchNormSums,
  batchNormGatherStats,
  batchNormElemt,
  batchNormBackwardReduce,
  batchNormBackwardElemt,
  batchNormUpdateRunning,
};
