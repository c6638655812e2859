// Batch-norm reductions (statistics, backward sums) and per-channel steps (merge, running stats): f64x2 accumulation.
import { p2, hsum, f4, f8, addTo, masked1, dy2 } from "./bn_simd";
import { sumsRows, reduceRows } from "./bn_rows_reduce";

// ---- statistics: shifted sums s1 = Σ(x − K), s2 = Σ(x − K)² per channel, one pass, float64 -----------
// With K a sample of the channel, x − K is exact in f64 and M2 = s2 − s1²/count loses no more than a
// factor (μ − K)²/σ² of precision: no catastrophic cancellation at mean 1e4, std 1.

export function bn_sums(x: usize, n: i32, c: i32, s: i32, cl: i32, shift: usize, s1: usize, s2: usize): void {
  memory.fill(s1, 0, f8(c));
  memory.fill(s2, 0, f8(c));
  if (cl) sumsRows(x, n * s, c, shift, s1, s2);
  else sumsPlanes(x, n, c, s, shift, s1, s2);
}

function sumsPlanes(x: usize, n: i32, c: i32, s: i32, shift: usize, s1: usize, s2: usize): void {
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const p = x + f4(<usize>(i * c + ch) * s);
      const kk = load<f64>(shift + f8(ch));
      const K = f64x2.splat(kk);
      let a0 = f64x2.splat(0), a1 = a0, a2 = a0, a3 = a0;
      let q0 = a0, q1 = a0, q2 = a0, q3 = a0;
      let j = 0;
      for (; j + 8 <= s; j += 8) {
        const pj = p + f4(j);
        const d0 = f64x2.sub(p2(pj), K);
        const d1 = f64x2.sub(p2(pj + 8), K);
        const d2 = f64x2.sub(p2(pj + 16), K);
        const d3 = f64x2.sub(p2(pj + 24), K);
        a0 = f64x2.add(a0, d0);
        a1 = f64x2.add(a1, d1);
        a2 = f64x2.add(a2, d2);
        a3 = f64x2.add(a3, d3);
        q0 = f64x2.add(q0, f64x2.mul(d0, d0));
        q1 = f64x2.add(q1, f64x2.mul(d1, d1));
        q2 = f64x2.add(q2, f64x2.mul(d2, d2));
        q3 = f64x2.add(q3, f64x2.mul(d3, d3));
      }
      let t1 = hsum(f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3)));
      let t2 = hsum(f64x2.add(f64x2.add(q0, q1), f64x2.add(q2, q3)));
      for (; j < s; j++) {
        const d = <f64>load<f32>(p + f4(j)) - kk;
        t1 += d;
        t2 += d * d;
      }
      addTo(s1 + f8(ch), t1);
      addTo(s2 + f8(ch), t2);
    }
  }
}

// ---- backward reduction: sumDy = Σdy, sumDyXmu = Σdy·(x − μ), float64; dy masked by y > 0 when y ≠ 0 ----

export function bn_bwd_reduce(sumDy: usize, sumDyXmu: usize, dy: usize, x: usize, mean: usize, y: usize, n: i32, c: i32, s: i32, cl: i32): void {
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
@inline function reducePlanes(sumDy: usize, sumDyXmu: usize, dy: usize, x: usize, mean: usize, y: usize, n: i32, c: i32, s: i32, useY: bool): void {
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const base = f4(<usize>(i * c + ch) * s);
      const mu = load<f64>(mean + f8(ch));
      const M = f64x2.splat(mu);
      let a0 = f64x2.splat(0), a1 = a0, a2 = a0, a3 = a0;
      let b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      let j = 0;
      for (; j + 8 <= s; j += 8) {
        const off = base + f4(j);
        const g0l = dy2(dy, y, off, 0, useY), g0h = dy2(dy, y, off, 8, useY);
        const g1l = dy2(dy, y, off + 16, 0, useY), g1h = dy2(dy, y, off + 16, 8, useY);
        const xo = x + off;
        a0 = f64x2.add(a0, g0l);
        a1 = f64x2.add(a1, g0h);
        a2 = f64x2.add(a2, g1l);
        a3 = f64x2.add(a3, g1h);
        b0 = f64x2.add(b0, f64x2.mul(g0l, f64x2.sub(p2(xo), M)));
        b1 = f64x2.add(b1, f64x2.mul(g0h, f64x2.sub(p2(xo + 8), M)));
        b2 = f64x2.add(b2, f64x2.mul(g1l, f64x2.sub(p2(xo + 16), M)));
        b3 = f64x2.add(b3, f64x2.mul(g1h, f64x2.sub(p2(xo + 24), M)));
      }
      let t1 = hsum(f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3)));
      let t2 = hsum(f64x2.add(f64x2.add(b0, b1), f64x2.add(b2, b3)));
      for (; j < s; j++) {
        const off = base + f4(j);
        const g = <f64>masked1(load<f32>(dy + off), y, off, useY);
        t1 += g;
        t2 += g * (<f64>load<f32>(x + off) - mu);
      }
      addTo(sumDy + f8(ch), t1);
      addTo(sumDyXmu + f8(ch), t2);
    }
  }
}

// ---- per-channel steps: Chan's merge of k shards and the running-statistics update (scalar f64) ------

/** counts f64[k]; means, m2s f64[k·c] (shard-major). Writes mean, biased/unbiased var, invstd; returns N. */
export function bn_gather(mean: usize, varB: usize, varU: usize, invstd: usize, counts: usize, means: usize, m2s: usize, k: i32, c: i32, eps: f64): f64 {
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
export function bn_update_running(rm: usize, rv: usize, mean: usize, varU: usize, c: i32, m: f64): void {
  for (let ch = 0; ch < c; ch++) {
    store<f32>(rm + f4(ch), <f32>((1 - m) * <f64>load<f32>(rm + f4(ch)) + m * load<f64>(mean + f8(ch))));
    store<f32>(rv + f4(ch), <f32>((1 - m) * <f64>load<f32>(rv + f4(ch)) + m * load<f64>(varU + f8(ch))));
  }
}
