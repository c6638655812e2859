// Group-norm kernels in AssemblyScript with 128-bit SIMD: f64x2 statistics and backward sums, f32x4 elementwise passes.
//
// Layout (see GNGeom in src/kernels/types.ts): (N, C, *) channels-first; group (i, g) is the contiguous run of
// M = (c/groups)·s floats at (i·groups + g)·M, and plane (i, ch) the run of s floats at (i·c + ch)·s.
// mean/invstd are f64[n·groups]; sumDy/sumDyXmu are f64[n·c]; weight/bias are f32[c] or 0 (absent).
import { p2, hsum, f4, f8 } from "./bn_simd";

// Results of runSums (AssemblyScript functions return one value).
let R1: f64 = 0;
let R2: f64 = 0;

/** R1 = Σ(x − K), R2 = Σ(x − K)² over `len` floats at p, f64x2 accumulators. */
function runSums(p: usize, len: i32, kk: f64): void {
  const K = f64x2.splat(kk);
  let a0 = f64x2.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let q0 = a0, q1 = a0, q2 = a0, q3 = a0;
  let j = 0;
  for (; j + 8 <= len; j += 8) {
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
  for (; j < len; j++) {
    const d = <f64>load<f32>(p + f4(j)) - kk;
    t1 += d;
    t2 += d * d;
  }
  R1 = t1;
  R2 = t2;
}

// ---- statistics: shifted sums with K = the group's first value (exact in f64; no cancellation at mean 1e4) ----

export function gn_stats(mean: usize, invstd: usize, x: usize, n: i32, c: i32, s: i32, groups: i32, eps: f64): void {
  const m = (c / groups) * s;
  for (let k = 0; k < n * groups; k++) {
    if (m == 0) {
      store<f64>(mean + f8(k), 0);
      store<f64>(invstd + f8(k), 1 / Math.sqrt(eps));
      continue;
    }
    const p = x + f4(<usize>k * m);
    const kk = <f64>load<f32>(p);
    runSums(p, m, kk);
    const mf = <f64>m;
    const v = Math.max(0, R2 - (R1 * R1) / mf) / mf;
    store<f64>(mean + f8(k), kk + R1 / mf);
    store<f64>(invstd + f8(k), 1 / Math.sqrt(v + eps));
  }
}

// ---- forward elementwise: y = ((x − μhi) − μlo)·scale + b per plane, scale = invstd·γ ----------------------
// μ is split into two floats (μhi + μlo ≈ μ to 2⁻⁴⁸) so x − μ keeps its digits when |μ| ≫ σ.

export function gn_elemt(out: usize, x: usize, mean: usize, invstd: usize, w: usize, b: usize, n: i32, c: i32, s: i32, groups: i32): void {
  const cg = c / groups;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const k = i * groups + ch / cg;
      const mu = load<f64>(mean + f8(k));
      const mh1 = <f32>mu;
      const ml1 = <f32>(mu - <f64>mh1);
      const sc1 = <f32>(load<f64>(invstd + f8(k)) * (w ? <f64>load<f32>(w + f4(ch)) : 1));
      const b1: f32 = b ? load<f32>(b + f4(ch)) : 0;
      const mh = f32x4.splat(mh1), ml = f32x4.splat(ml1), sc = f32x4.splat(sc1), bb = f32x4.splat(b1);
      const off = f4(<usize>(i * c + ch) * s);
      const p = x + off;
      const o = out + off;
      let j = 0;
      for (; j + 8 <= s; j += 8) {
        const pj = p + f4(j);
        const oj = o + f4(j);
        const v0 = v128.load(pj), v1 = v128.load(pj, 16);
        v128.store(oj, f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v0, mh), ml), sc), bb));
        v128.store(oj, f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v1, mh), ml), sc), bb), 16);
      }
      for (; j + 4 <= s; j += 4) {
        v128.store(o + f4(j), f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(p + f4(j)), mh), ml), sc), bb));
      }
      for (; j < s; j++) store<f32>(o + f4(j), ((load<f32>(p + f4(j)) - mh1) - ml1) * sc1 + b1);
    }
  }
}

// ---- backward reduction per plane: sumDy = Σdy, sumDyXmu = Σdy·(x − μ), float64 ----------------------------

export function gn_bwd_reduce(sumDy: usize, sumDyXmu: usize, dy: usize, x: usize, mean: usize, n: i32, c: i32, s: i32, groups: i32): void {
  const cg = c / groups;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const pl = i * c + ch;
      const off = f4(<usize>pl * s);
      const mu = load<f64>(mean + f8(i * groups + ch / cg));
      const M = f64x2.splat(mu);
      let a0 = f64x2.splat(0), a1 = a0, a2 = a0, a3 = a0;
      let b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      let j = 0;
      for (; j + 8 <= s; j += 8) {
        const d = dy + off + f4(j);
        const xo = x + off + f4(j);
        const g0 = p2(d), g1 = p2(d + 8), g2 = p2(d + 16), g3 = p2(d + 24);
        a0 = f64x2.add(a0, g0);
        a1 = f64x2.add(a1, g1);
        a2 = f64x2.add(a2, g2);
        a3 = f64x2.add(a3, g3);
        b0 = f64x2.add(b0, f64x2.mul(g0, f64x2.sub(p2(xo), M)));
        b1 = f64x2.add(b1, f64x2.mul(g1, f64x2.sub(p2(xo + 8), M)));
        b2 = f64x2.add(b2, f64x2.mul(g2, f64x2.sub(p2(xo + 16), M)));
        b3 = f64x2.add(b3, f64x2.mul(g3, f64x2.sub(p2(xo + 24), M)));
      }
      let t1 = hsum(f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3)));
      let t2 = hsum(f64x2.add(f64x2.add(b0, b1), f64x2.add(b2, b3)));
      for (; j < s; j++) {
        const g = <f64>load<f32>(dy + off + f4(j));
        t1 += g;
        t2 += g * (<f64>load<f32>(x + off + f4(j)) - mu);
      }
      store<f64>(sumDy + f8(pl), t1);
      store<f64>(sumDyXmu + f8(pl), t2);
    }
  }
}

// ---- backward elementwise: dx = (dy·a − d) − ((x − μhi) − μlo)·k per plane -----------------------------------
// Per group (i, g): A = Σ γ·sumDy, B = Σ γ·sumDyXmu over its channels (f64); per plane a = invstd·γ,
// d = invstd·A/M, k = invstd³·B/M.

export function gn_bwd_elemt(
  dx: usize, dy: usize, x: usize, mean: usize, invstd: usize, w: usize, sumDy: usize, sumDyXmu: usize,
  n: i32, c: i32, s: i32, groups: i32,
): void {
  const cg = c / groups;
  const mf = <f64>(cg * s);
  for (let i = 0; i < n; i++) {
    for (let gr = 0; gr < groups; gr++) {
      const k = i * groups + gr;
      let sa: f64 = 0, sb: f64 = 0;
      for (let ch = gr * cg; ch < (gr + 1) * cg; ch++) {
        const wc: f64 = w ? <f64>load<f32>(w + f4(ch)) : 1;
        sa += wc * load<f64>(sumDy + f8(i * c + ch));
        sb += wc * load<f64>(sumDyXmu + f8(i * c + ch));
      }
      const is = load<f64>(invstd + f8(k));
      const mu = load<f64>(mean + f8(k));
      const mh1 = <f32>mu;
      const ml1 = <f32>(mu - <f64>mh1);
      const d1 = <f32>((is * sa) / mf);
      const k1 = <f32>((is * is * is * sb) / mf);
      const mh = f32x4.splat(mh1), ml = f32x4.splat(ml1), dd = f32x4.splat(d1), kk = f32x4.splat(k1);
      for (let ch = gr * cg; ch < (gr + 1) * cg; ch++) {
        const a1 = <f32>(is * (w ? <f64>load<f32>(w + f4(ch)) : 1));
        const a = f32x4.splat(a1);
        const off = f4(<usize>(i * c + ch) * s);
        let j = 0;
        for (; j + 4 <= s; j += 4) {
          const o = off + f4(j);
          const xm = f32x4.sub(f32x4.sub(v128.load(x + o), mh), ml);
          v128.store(dx + o, f32x4.sub(f32x4.sub(f32x4.mul(v128.load(dy + o), a), dd), f32x4.mul(xm, kk)));
        }
        for (; j < s; j++) {
          const o = off + f4(j);
          store<f32>(dx + o, (load<f32>(dy + o) * a1 - d1) - ((load<f32>(x + o) - mh1) - ml1) * k1);
        }
      }
    }
  }
}
