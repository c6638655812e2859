// Reference batch-norm kernels: plain TypeScript, float64 throughout, clarity first (the twin the SIMD kernels are
// tested against).
import type { BatchNormKernels, BNGeom } from '../types.js';

/** Flat index of element (i, ch, j) in either layout (see BNGeom). */
function at(g: BNGeom, i: number, ch: number, j: number): number {
  return g.channelsLast ? (i * g.s + j) * g.c + ch : (i * g.c + ch) * g.s + j;
}

/** Visit every element of channel `ch` with its flat index. */
function forChannel(g: BNGeom, ch: number, fn: (idx: number) => void): void {
  for (let i = 0; i < g.n; i++) for (let j = 0; j < g.s; j++) fn(at(g, i, ch, j));
}

/**
 * Neumaier-compensated sum: the rounding error of every addition is kept and added back at the end,
 * so a sum of a million terms is as accurate as a few (the reference must be the accurate twin).
 */
export class Sum {
  private s = 0;
  private c = 0;
  add(v: number): void {
    const t = this.s + v;
    this.c += Math.abs(this.s) >= Math.abs(v) ? this.s - t + v : v - t + this.s;
    this.s = t;
  }
  get value(): number {
    return this.s + this.c;
  }
}

function batchNormStats(mean: Float64Array, m2: Float64Array, x: Float32Array, g: BNGeom): void {
  const count = g.n * g.s;
  for (let ch = 0; ch < g.c; ch++) {
    if (count === 0) {
      mean[ch] = 0;
      m2[ch] = 0;
      continue;
    }
    // Two passes: the mean, then the sum of squared deviations from it (no cancellation).
    const sum = new Sum();
    forChannel(g, ch, (k) => sum.add(x[k]!));
    const mu = sum.value / count;
    const ss = new Sum();
    const corr = new Sum(); // Σ(x − μ) is ~0 in exact arithmetic; corr²/count removes the rounding of μ
    forChannel(g, ch, (k) => {
      const d = x[k]! - mu;
      ss.add(d * d);
      corr.add(d);
    });
    mean[ch] = mu + corr.value / count;
    m2[ch] = Math.max(0, ss.value - (corr.value * corr.value) / count);
  }
}

function batchNormSums(sum: Float64Array, sumSq: Float64Array, x: Float32Array, g: BNGeom): void {
  for (let ch = 0; ch < g.c; ch++) {
    const s1 = new Sum();
    const s2 = new Sum();
    forChannel(g, ch, (k) => {
      const v = x[k]!;
      s1.add(v);
      s2.add(v * v);
    });
    sum[ch] = s1.value;
    sumSq[ch] = s2.value;
  }
}

/**
 * Chan et al.'s pairwise update, applied shard by shard: for A ∪ B with δ = μ_B − μ_A,
 *   n = n_A + n_B,  μ = μ_A + δ·n_B/n,  M2 = M2_A + M2_B + δ²·n_A·n_B/n.
 * Shards with count 0 are skipped, so they change nothing.
 */
function batchNormGatherStats(
  mean: Float64Array,
  varBiased: Float64Array,
  varUnbiased: Float64Array,
  invstd: Float64Array,
  shards: ReadonlyArray<{ count: number; mean: Float64Array; m2: Float64Array }>,
  eps: number,
): number {
  const c = mean.length;
  let total = 0;
  for (const sh of shards) total += sh.count;
  for (let ch = 0; ch < c; ch++) {
    let n = 0;
    let mu = 0;
    let m2 = 0;
    for (const sh of shards) {
      const nb = sh.count;
      if (nb === 0) continue;
      const delta = sh.mean[ch]! - mu;
      const nn = n + nb;
      mu += (delta * nb) / nn;
      m2 += sh.m2[ch]! + (delta * delta * n * nb) / nn;
      n = nn;
    }
    const vb = m2 / n; // NaN when n = 0
    mean[ch] = mu;
    varBiased[ch] = vb;
    varUnbiased[ch] = n > 1 ? m2 / (n - 1) : NaN;
    invstd[ch] = 1 / Math.sqrt(vb + eps);
  }
  return total;
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
  for (let ch = 0; ch < g.c; ch++) {
    const mu = mean[ch]!;
    const is = invstd[ch]!;
    const w = weight === null ? 1 : weight[ch]!;
    const b = bias === null ? 0 : bias[ch]!;
    forChannel(g, ch, (k) => {
      const y = (x[k]! - mu) * is * w + b;
      out[k] = relu && y < 0 ? 0 : y; // NaN stays NaN, like torch.relu
    });
  }
}

/** dy seen through the fused-ReLU mask: the gradient passes only where the forward output was > 0. */
function maskedDy(dy: Float32Array, y: Float32Array | null, k: number): number {
  return y === null || y[k]! > 0 ? dy[k]! : 0;
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
  for (let ch = 0; ch < g.c; ch++) {
    const mu = mean[ch]!;
    const s1 = new Sum();
    const s2 = new Sum();
    forChannel(g, ch, (k) => {
      const d = maskedDy(dy, y, k);
      s1.add(d);
      s2.add(d * (x[k]! - mu));
    });
    sumDy[ch] = s1.value;
    sumDyXmu[ch] = s2.value;
  }
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
  for (let ch = 0; ch < g.c; ch++) {
    const mu = mean[ch]!;
    const is = invstd[ch]!;
    const w = weight === null ? 1 : weight[ch]!;
    const meanDy = sumDy[ch]! / count;
    const k2 = (is * is * sumDyXmu[ch]!) / count;
    forChannel(g, ch, (k) => {
      dx[k] = w * is * (maskedDy(dy, y, k) - meanDy - (x[k]! - mu) * k2);
    });
  }
}

function batchNormUpdateRunning(
  runningMean: Float32Array,
  runningVar: Float32Array,
  mean: Float64Array,
  varUnbiased: Float64Array,
  momentum: number | null,
  numBatchesTracked: number,
): void {
  const m = momentum === null ? 1 / numBatchesTracked : momentum;
  for (let ch = 0; ch < runningMean.length; ch++) {
    runningMean[ch] = (1 - m) * runningMean[ch]! + m * mean[ch]!;
    runningVar[ch] = (1 - m) * runningVar[ch]! + m * varUnbiased[ch]!;
  }
}

export const batchNormRef: BatchNormKernels = {
  batchNormStats,
  batchNormSums,
  batchNormGatherStats,
  batchNormElemt,
  batchNormBackwardReduce,
  batchNormBackwardElemt,
  batchNormUpdateRunning,
};
