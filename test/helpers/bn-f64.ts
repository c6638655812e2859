// Batch-norm steps in plain float64 loops, written from the definitions (not from either kernel backend):
// the independent reference the kernel tests compare every backend with.
import type { BNGeom } from '../../src/kernels/index.js';

/** Index of element (sample i, channel ch, position j) in either layout. */
function at(g: BNGeom, i: number, ch: number, j: number): number {
  return g.channelsLast ? (i * g.s + j) * g.c + ch : (i * g.c + ch) * g.s + j;
}

function eachOf(g: BNGeom, ch: number, f: (k: number) => void): void {
  for (let i = 0; i < g.n; i++) for (let j = 0; j < g.s; j++) f(at(g, i, ch, j));
}

/** Two-pass per-channel mean and M2 = Σ(x − mean)² (0 and 0 for an empty channel). */
export function statsF64(x: ArrayLike<number>, g: BNGeom): { mean: Float64Array; m2: Float64Array } {
  const mean = new Float64Array(g.c);
  const m2 = new Float64Array(g.c);
  const count = g.n * g.s;
  if (count === 0) return { mean, m2 };
  for (let ch = 0; ch < g.c; ch++) {
    let s = 0;
    eachOf(g, ch, (k) => (s += x[k]!));
    const m = s / count;
    let q = 0;
    eachOf(g, ch, (k) => (q += (x[k]! - m) ** 2));
    mean[ch] = m;
    m2[ch] = q;
  }
  return { mean, m2 };
}

/** y = (x − mean)·invstd·w + b, then max(y, 0) with relu. */
export function elemtF64(
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  invstd: ArrayLike<number>,
  w: ArrayLike<number> | null,
  b: ArrayLike<number> | null,
  g: BNGeom,
  relu: boolean,
): Float64Array {
  const y = new Float64Array(x.length);
  for (let ch = 0; ch < g.c; ch++) {
    eachOf(g, ch, (k) => {
      const v = (x[k]! - mean[ch]!) * invstd[ch]! * (w ? w[ch]! : 1) + (b ? b[ch]! : 0);
      y[k] = relu ? Math.max(v, 0) : v;
    });
  }
  return y;
}

/** Σdy and Σdy·(x − mean) per channel, counting dy only where y > 0 when y (the fused-ReLU output) is given. */
export function reduceF64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  g: BNGeom,
  y: ArrayLike<number> | null,
): [Float64Array, Float64Array] {
  const sumDy = new Float64Array(g.c);
  const sumDyXmu = new Float64Array(g.c);
  for (let ch = 0; ch < g.c; ch++) {
    eachOf(g, ch, (k) => {
      const d = y !== null && !(y[k]! > 0) ? 0 : dy[k]!;
      sumDy[ch] += d;
      sumDyXmu[ch] += d * (x[k]! - mean[ch]!);
    });
  }
  return [sumDy, sumDyXmu];
}

/** dx = (dy − Σdy/N − (x − mean)·invstd²·Σdy·(x−mean)/N)·invstd·w over the global count N (dy masked by y > 0). */
export function backwardElemtF64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  invstd: ArrayLike<number>,
  w: ArrayLike<number> | null,
  sumDy: ArrayLike<number>,
  sumDyXmu: ArrayLike<number>,
  count: number,
  g: BNGeom,
  y: ArrayLike<number> | null,
): Float64Array {
  const dx = new Float64Array(x.length);
  for (let ch = 0; ch < g.c; ch++) {
    const inv = invstd[ch]!;
    eachOf(g, ch, (k) => {
      const d = y !== null && !(y[k]! > 0) ? 0 : dy[k]!;
      const xmu = x[k]! - mean[ch]!;
      dx[k] = (d - sumDy[ch]! / count - xmu * inv * inv * (sumDyXmu[ch]! / count)) * inv * (w ? w[ch]! : 1);
    });
  }
  return dx;
}
