// Reference group-norm kernels: plain TypeScript, float64 throughout (the twin the SIMD kernels are tested against).
import type { GNGeom, GroupNormKernels } from '../types.js';
import { Sum } from './batchnorm.js';

/** Elements per group: c/groups channels × s spatial. */
const groupSize = (g: GNGeom): number => (g.c / g.groups) * g.s;

function groupNormStats(mean: Float64Array, invstd: Float64Array, x: Float32Array, g: GNGeom, eps: number): void {
  const m = groupSize(g);
  for (let k = 0; k < g.n * g.groups; k++) {
    if (m === 0) {
      mean[k] = 0;
      invstd[k] = 1 / Math.sqrt(eps);
      continue;
    }
    // Two passes over the group's contiguous run: the mean, then Σ(x − μ)² (no cancellation);
    // Σ(x − μ), ~0 in exact arithmetic, removes the rounding of μ.
    const base = k * m;
    const sum = new Sum();
    for (let j = 0; j < m; j++) sum.add(x[base + j]!);
    const mu = sum.value / m;
    const ss = new Sum();
    const corr = new Sum();
    for (let j = 0; j < m; j++) {
      const d = x[base + j]! - mu;
      ss.add(d * d);
      corr.add(d);
    }
    const varBiased = Math.max(0, ss.value - (corr.value * corr.value) / m) / m;
    mean[k] = mu + corr.value / m;
    invstd[k] = 1 / Math.sqrt(varBiased + eps);
  }
}

function groupNormElemt(
  out: Float32Array,
  x: Float32Array,
  mean: Float64Array,
  invstd: Float64Array,
  weight: Float32Array | null,
  bias: Float32Array | null,
  g: GNGeom,
): void {
  const cg = g.c / g.groups;
  for (let i = 0; i < g.n; i++) {
    for (let ch = 0; ch < g.c; ch++) {
      const k = i * g.groups + Math.floor(ch / cg);
      const w = weight === null ? 1 : weight[ch]!;
      const b = bias === null ? 0 : bias[ch]!;
      const base = (i * g.c + ch) * g.s;
      for (let j = 0; j < g.s; j++) out[base + j] = (x[base + j]! - mean[k]!) * invstd[k]! * w + b;
    }
  }
}

function groupNormBackwardReduce(
  sumDy: Float64Array,
  sumDyXmu: Float64Array,
  dy: Float32Array,
  x: Float32Array,
  mean: Float64Array,
  g: GNGeom,
): void {
  const cg = g.c / g.groups;
  for (let i = 0; i < g.n; i++) {
    for (let ch = 0; ch < g.c; ch++) {
      const mu = mean[i * g.groups + Math.floor(ch / cg)]!;
      const p = i * g.c + ch;
      const a = new Sum();
      const b = new Sum();
      for (let j = 0; j < g.s; j++) {
        a.add(dy[p * g.s + j]!);
        b.add(dy[p * g.s + j]! * (x[p * g.s + j]! - mu));
      }
      sumDy[p] = a.value;
      sumDyXmu[p] = b.value;
    }
  }
}

function groupNormBackwardElemt(
  dx: Float32Array,
  dy: Float32Array,
  x: Float32Array,
  mean: Float64Array,
  invstd: Float64Array,
  weight: Float32Array | null,
  sumDy: Float64Array,
  sumDyXmu: Float64Array,
  g: GNGeom,
): void {
  const cg = g.c / g.groups;
  const m = groupSize(g);
  for (let i = 0; i < g.n; i++) {
    for (let gr = 0; gr < g.groups; gr++) {
      const k = i * g.groups + gr;
      // mean(γ·dy) = A/M and mean(γ·dy·x̂) = invstd·B/M over the group
      let sa = 0;
      let sb = 0;
      for (let ch = gr * cg; ch < (gr + 1) * cg; ch++) {
        const w = weight === null ? 1 : weight[ch]!;
        sa += w * sumDy[i * g.c + ch]!;
        sb += w * sumDyXmu[i * g.c + ch]!;
      }
      const is = invstd[k]!;
      const meanG = sa / m;
      const meanGXhat = (is * sb) / m;
      for (let ch = gr * cg; ch < (gr + 1) * cg; ch++) {
        const w = weight === null ? 1 : weight[ch]!;
        const base = (i * g.c + ch) * g.s;
        for (let j = 0; j < g.s; j++) {
          const xhat = (x[base + j]! - mean[k]!) * is;
          dx[base + j] = is * (w * dy[base + j]! - meanG - xhat * meanGXhat);
        }
      }
    }
  }
}

export const groupNormRef: GroupNormKernels = {
  groupNormStats,
  groupNormElemt,
  groupNormBackwardReduce,
  groupNormBackwardElemt,
};
