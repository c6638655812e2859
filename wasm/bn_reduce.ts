// Batch-norm reductions (statistics, backward sums) and per-channel steps (merge, running stats): f64x2 accumulation.
import { p2, hsum, f4, f8, addTo, addTo2, masked, masked1, dy2 } from "./bn_simd";

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

function sumsRows(x: usize, rows: i32, c: i32, shift: usize, s1: usize, s2: usize): void {
  // Rows r, r + q, r + 2q, r + 3q go together (q = rows/4): four sequential streams, and each
  // per-channel accumulator in memory is read and written once per four rows.
  const q = rows >> 2;
  const far = f4(<usize>q * c);
  for (let r = 0; r < q; r++) sumsRowQuad(x + f4(<usize>r * c), far, c, shift, s1, s2, true);
  for (let r = q << 2; r < rows; r++) sumsRowQuad(x + f4(<usize>r * c), 0, c, shift, s1, s2, false);
}

// @ts-ignore: decorator
@inline function sumsRowQuad(p: usize, far: usize, c: i32, shift: usize, s1: usize, s2: usize, quad: bool): void {
  const c4 = c & ~3;
  let ch = 0;
  for (; ch < c4; ch += 4) {
    const k = shift + f8(ch);
    const K0 = v128.load(k), K1 = v128.load(k, 16);
    const pc = p + f4(ch);
    let d0 = f64x2.sub(p2(pc), K0), d1 = f64x2.sub(p2(pc + 8), K1);
    let q0 = f64x2.mul(d0, d0), q1 = f64x2.mul(d1, d1);
    if (quad) {
      const u = pc + far, w = pc + 2 * far, z = pc + 3 * far;
      const e0 = f64x2.sub(p2(u), K0), e1 = f64x2.sub(p2(u + 8), K1);
      const f0 = f64x2.sub(p2(w), K0), f1 = f64x2.sub(p2(w + 8), K1);
      const g0 = f64x2.sub(p2(z), K0), g1 = f64x2.sub(p2(z + 8), K1);
      q0 = f64x2.add(f64x2.add(q0, f64x2.mul(e0, e0)), f64x2.add(f64x2.mul(f0, f0), f64x2.mul(g0, g0)));
      q1 = f64x2.add(f64x2.add(q1, f64x2.mul(e1, e1)), f64x2.add(f64x2.mul(f1, f1), f64x2.mul(g1, g1)));
      d0 = f64x2.add(f64x2.add(d0, e0), f64x2.add(f0, g0));
      d1 = f64x2.add(f64x2.add(d1, e1), f64x2.add(f1, g1));
    }
    const a = s1 + f8(ch);
    const b = s2 + f8(ch);
    addTo2(a, d0);
    addTo2(a + 16, d1);
    addTo2(b, q0);
    addTo2(b + 16, q1);
  }
  for (; ch < c; ch++) {
    const kk = load<f64>(shift + f8(ch));
    const n = quad ? 4 : 1;
    for (let i = 0; i < n; i++) {
      const d = <f64>load<f32>(p + <usize>i * far + f4(ch)) - kk;
      addTo(s1 + f8(ch), d);
      addTo(s2 + f8(ch), d * d);
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

// @ts-ignore: decorator
@inline function reduceRows(sumDy: usize, sumDyXmu: usize, dy: usize, x: usize, mean: usize, y: usize, rows: i32, c: i32, useY: bool): void {
  // Rows r and r + half together, as in sumsRows.
  const half = rows >> 1;
  const far = f4(<usize>half * c);
  for (let r = 0; r < half; r++) reduceRowPair(sumDy, sumDyXmu, dy, x, mean, y, f4(<usize>r * c), far, c, useY, true);
  if (rows & 1) reduceRowPair(sumDy, sumDyXmu, dy, x, mean, y, f4(<usize>(rows - 1) * c), 0, c, useY, false);
}

// @ts-ignore: decorator
@inline function reduceRowPair(sumDy: usize, sumDyXmu: usize, dy: usize, x: usize, mean: usize, y: usize, base: usize, far: usize, c: i32, useY: bool, pair: bool): void {
  const c4 = c & ~3;
  let ch = 0;
  for (; ch < c4; ch += 4) {
    const m = mean + f8(ch);
    const M0 = v128.load(m), M1 = v128.load(m, 16);
    const off = base + f4(ch);
    let a0 = dy2(dy, y, off, 0, useY), a1 = dy2(dy, y, off, 8, useY);
    let b0 = f64x2.mul(a0, f64x2.sub(p2(x + off), M0));
    let b1 = f64x2.mul(a1, f64x2.sub(p2(x + off + 8), M1));
    if (pair) {
      const off2 = off + far;
      const h0 = dy2(dy, y, off2, 0, useY), h1 = dy2(dy, y, off2, 8, useY);
      b0 = f64x2.add(b0, f64x2.mul(h0, f64x2.sub(p2(x + off2), M0)));
      b1 = f64x2.add(b1, f64x2.mul(h1, f64x2.sub(p2(x + off2 + 8), M1)));
      a0 = f64x2.add(a0, h0);
      a1 = f64x2.add(a1, h1);
    }
    addTo2(sumDy + f8(ch), a0);
    addTo2(sumDy + f8(ch) + 16, a1);
    addTo2(sumDyXmu + f8(ch), b0);
    addTo2(sumDyXmu + f8(ch) + 16, b1);
  }
  for (; ch < c; ch++) {
    const mu = load<f64>(mean + f8(ch));
    const off = base + f4(ch);
    let g = <f64>masked1(load<f32>(dy + off), y, off, useY);
    let gx = g * (<f64>load<f32>(x + off) - mu);
    if (pair) {
      const off2 = off + far;
      const h = <f64>masked1(load<f32>(dy + off2), y, off2, useY);
      gx += h * (<f64>load<f32>(x + off2) - mu);
      g += h;
    }
    addTo(sumDy + f8(ch), g);
    addTo(sumDyXmu + f8(ch), gx);
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
