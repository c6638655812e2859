// Group-norm kernels in AssemblyScript with 128-bit SIMD: f64x2 statistics and backward sums, f32x4 elementwise passes.
//
// Layout (see GNGeom in src/kernels/types.ts): (N, C, *) channels-first; group (i, g) is the contiguous run of
// M = (c/groups)·s floats at (i·groups + g)·M, and plane (i, ch) the run of s floats at (i·c + ch)·s.
// mean/invstd are f64[n·groups]; sumDy/sumDyXmu are f64[n·c]; weight/bias are f32[c] or 0 (absent).
import { f4, f8, shiftedRun, bwdRun } from "./bn-simd";

// ---- statistics: shifted sums with K = the group's first value (exact in f64; no cancellation at mean 1e4) ----

export function gnStats(mean: usize, invstd: usize, x: usize, n: i32, c: i32, s: i32, groups: i32, eps: f64): void {
  const m = (c / groups) * s;
  for (let k = 0; k < n * groups; k++) {
    if (m == 0) {
      store<f64>(mean + f8(k), 0);
      store<f64>(invstd + f8(k), 1 / Math.sqrt(eps));
      continue;
    }
    // the run's sums land in mean[k] (Σ(x − K)) and invstd[k] (Σ(x − K)²), then become the statistics
    const p = x + f4(<usize>k * m);
    const kk = <f64>load<f32>(p);
    const s1 = mean + f8(k), s2 = invstd + f8(k);
    store<f64>(s1, 0);
    store<f64>(s2, 0);
    shiftedRun(p, m, kk, s1, s2);
    const mf = <f64>m, t1 = load<f64>(s1);
    const v = Math.max(0, load<f64>(s2) - (t1 * t1) / mf) / mf;
    store<f64>(s1, kk + t1 / mf);
    store<f64>(s2, 1 / Math.sqrt(v + eps));
  }
}

// ---- forward elementwise: y = ((x − μhi) − μlo)·scale + b per plane, scale = invstd·γ ----------------------
// μ is split into two floats (μhi + μlo ≈ μ to 2⁻⁴⁸) so x − μ keeps its digits when |μ| ≫ σ.

export function gnElemt(
  out: usize, x: usize, mean: usize, invstd: usize, w: usize, b: usize, n: i32, c: i32, s: i32, groups: i32,
): void {
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

export function gnBwdReduce(
  sumDy: usize, sumDyXmu: usize, dy: usize, x: usize, mean: usize, n: i32, c: i32, s: i32, groups: i32,
): void {
  const cg = c / groups;
  memory.fill(sumDy, 0, f8(n * c));
  memory.fill(sumDyXmu, 0, f8(n * c));
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const pl = i * c + ch;
      const mu = load<f64>(mean + f8(i * groups + ch / cg));
      bwdRun(sumDy + f8(pl), sumDyXmu + f8(pl), dy, x, 0, f4(<usize>pl * s), s, mu, false);
    }
  }
}

// ---- backward elementwise: dx = (dy·a − d) − ((x − μhi) − μlo)·k per plane ------------------------------
// Per group (i, g): A = Σ γ·sumDy, B = Σ γ·sumDyXmu over its channels (f64); per plane a = invstd·γ,
// d = invstd·A/M, k = invstd³·B/M.

export function gnBwdElemt(
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
