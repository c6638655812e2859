// Batch-norm reductions (statistics, backward sums) and per-channel steps (merge, running stats): f64x2 accumulation.
import { f4, f8, shiftedRun, bwdRun } from "./bn-simd";
import { sumsRows, reduceRows } from "./bn-rows-reduce";

// ---- statistics: shifted sums s1 = Σ(x − K), s2 = Σ(x − K)² per channel, one pass, float64 -----------
// With K a sample of the channel, x − K is exact in f64 and M2 = s2 − s1²/count loses no more than a
// factor (μ − K)²/σ² of precision: no catastrophic cancellation at mean 1e4, std 1.

export function bnSums(x: usize, n: i32, c: i32, s: i32, cl: i32, shift: usize, s1: usize, s2: usize): void {
  memory.fill(s1, 0, f8(c));
  memory.fill(s2, 0, f8(c));
  if (cl) sumsRows(x, n * s, c, shift, s1, s2);
  else sumsPlanes(x, n, c, s, shift, s1, s2);
}

function sumsPlanes(x: usize, n: i32, c: i32, s: i32, shift: usize, s1: usize, s2: usize): void {
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      shiftedRun(x + f4(<usize>(i * c + ch) * s), s, load<f64>(shift + f8(ch)), s1 + f8(ch), s2 + f8(ch));
    }
  }
}

// ---- backward reduction: sumDy = Σdy, sumDyXmu = Σdy·(x − μ), float64; dy masked by y > 0 when y ≠ 0 ----

export function bnBwdReduce(
  sumDy: usize, sumDyXmu: usize, dy: usize, x: usize, mean: usize, y: usize, n: i32, c: i32, s: i32, cl: i32,
): void {
  memory.fill(sumDy, 0, f8(c));
  memory.fill(sumDyXmu, 0, f8(c));
  if (cl) {
    if (y) reduceRows(sumDy, sumDyXmu, dy, x, mean, y, n * s, c, true);
    else reduceRows(sumDy, sumDyXmu, dy, x, mean, y, n * s, c, false);
  } else {
    if (y) reducePlanes(sumDy, sumDyXmu, dy, x, mean, y, n, c, s, true);
    else reducePlanes(sumDy, sumDyXmu, dy, x, mean, y, n, c, s, false);
  }
}

// @ts-ignore: decorator
@inline function reducePlanes(
  sumDy: usize, sumDyXmu: usize, dy: usize, x: usize, mean: usize, y: usize, n: i32, c: i32, s: i32, useY: bool,
): void {
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const mu = load<f64>(mean + f8(ch));
      bwdRun(sumDy + f8(ch), sumDyXmu + f8(ch), dy, x, y, f4(<usize>(i * c + ch) * s), s, mu, useY);
    }
  }
}

// ---- per-channel steps: Chan's merge of k shards and the running-statistics update (scalar f64) ------

/** counts f64[k]; means, m2s f64[k·c] (shard-major). Writes mean, biased/unbiased var, invstd; returns N. */
export function bnGather(
  mean: usize, varB: usize, varU: usize, invstd: usize, counts: usize, means: usize, m2s: usize, k: i32, c: i32,
  eps: f64,
): f64 {
  let total: f64 = 0;
  for (let sh = 0; sh < k; sh++) total += load<f64>(counts + f8(sh));
  for (let ch = 0; ch < c; ch++) {
    let nA: f64 = 0, mu: f64 = 0, m2: f64 = 0;
    for (let sh = 0; sh < k; sh++) {
      const nB = load<f64>(counts + f8(sh));
      if (nB == 0) continue;
      const idx = f8(<usize>sh * c + ch);
      const delta = load<f64>(means + idx) - mu;
      const nn = nA + nB;
      mu += (delta * nB) / nn;
      m2 += load<f64>(m2s + idx) + (delta * delta * nA * nB) / nn;
      nA = nn;
    }
    const vb = m2 / nA;
    store<f64>(mean + f8(ch), mu);
    store<f64>(varB + f8(ch), vb);
    store<f64>(varU + f8(ch), nA > 1 ? m2 / (nA - 1) : NaN);
    store<f64>(invstd + f8(ch), 1 / Math.sqrt(vb + eps));
  }
  return total;
}

/** r = (1 − m)·r + m·batch for running mean (f32) and running var (f32, from the unbiased batch variance). */
export function bnUpdateRunning(rm: usize, rv: usize, mean: usize, varU: usize, c: i32, m: f64): void {
  for (let ch = 0; ch < c; ch++) {
    store<f32>(rm + f4(ch), <f32>((1 - m) * <f64>load<f32>(rm + f4(ch)) + m * load<f64>(mean + f8(ch))));
    store<f32>(rv + f4(ch), <f32>((1 - m) * <f64>load<f32>(rv + f4(ch)) + m * load<f64>(varU + f8(ch))));
  }
}
