// Batch-norm elementwise passes (forward, backward dx) in f32x4 with per-channel constants.
import { f4, masked, masked1, ZERO4 } from "./bn-simd";
import { elemtRows, elemtRowsFast, bwdRows } from "./bn-rows-elemt";

// ---- forward elementwise: y = ((x − μhi) − μlo)·scale + bias, optional max(y, 0) ------------------------
// μ is split into two floats (μhi + μlo ≈ μ to 2⁻⁴⁸) so x − μ keeps its digits when |μ| ≫ σ.
// cst blocks: 0 μhi, 1 μlo, 2 scale = invstd·γ, 3 bias.

// @ts-ignore: decorator
@inline function affine(v: v128, mh: v128, ml: v128, sc: v128, b: v128, relu: bool): v128 {
  const y = f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v, mh), ml), sc), b);
  return relu ? f32x4.max(y, ZERO4) : y;
}
// @ts-ignore: decorator
@inline function affine1(v: f32, mh: f32, ml: f32, sc: f32, b: f32, relu: bool): f32 {
  const y = ((v - mh) - ml) * sc + b;
  return relu && y < 0 ? 0 : y;
}

export function bnElemt(out: usize, x: usize, cst: usize, n: i32, c: i32, s: i32, cl: i32, relu: i32, fast: i32): void {
  if (cl && fast) {
    if (relu) elemtRowsFast(out, x, cst, n * s, c, true);
    else elemtRowsFast(out, x, cst, n * s, c, false);
  } else if (cl) {
    if (relu) elemtRows(out, x, cst, n * s, c, true);
    else elemtRows(out, x, cst, n * s, c, false);
  } else {
    if (relu) elemtPlanes(out, x, cst, n, c, s, true);
    else elemtPlanes(out, x, cst, n, c, s, false);
  }
}

// @ts-ignore: decorator
@inline function elemtPlanes(out: usize, x: usize, cst: usize, n: i32, c: i32, s: i32, relu: bool): void {
  const c4 = f4((c + 3) & ~3);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const off = f4(<usize>(i * c + ch) * s);
      const p = x + off;
      const o = out + off;
      const q = cst + f4(ch);
      const mh1 = load<f32>(q), ml1 = load<f32>(q + c4), sc1 = load<f32>(q + 2 * c4), b1 = load<f32>(q + 3 * c4);
      const mh = f32x4.splat(mh1), ml = f32x4.splat(ml1), sc = f32x4.splat(sc1), b = f32x4.splat(b1);
      let j = 0;
      for (; j + 16 <= s; j += 16) {
        const pj = p + f4(j);
        const oj = o + f4(j);
        const v0 = v128.load(pj), v1 = v128.load(pj, 16), v2 = v128.load(pj, 32), v3 = v128.load(pj, 48);
        v128.store(oj, affine(v0, mh, ml, sc, b, relu));
        v128.store(oj, affine(v1, mh, ml, sc, b, relu), 16);
        v128.store(oj, affine(v2, mh, ml, sc, b, relu), 32);
        v128.store(oj, affine(v3, mh, ml, sc, b, relu), 48);
      }
      for (; j + 4 <= s; j += 4) v128.store(o + f4(j), affine(v128.load(p + f4(j)), mh, ml, sc, b, relu));
      for (; j < s; j++) store<f32>(o + f4(j), affine1(load<f32>(p + f4(j)), mh1, ml1, sc1, b1, relu));
    }
  }
}

// ---- backward elementwise: dx = ((dy − mean(dy)) − (x − μ)·k)·a --------------------------------------
// a = γ·invstd, k = invstd²·Σdy(x−μ)/N, mean(dy) = Σdy/N. cst blocks: 0 μhi, 1 μlo, 2 k, 3 mean(dy), 4 a.

// @ts-ignore: decorator
@inline function bwd(g: v128, v: v128, mh: v128, ml: v128, k: v128, md: v128, a: v128): v128 {
  const xm = f32x4.sub(f32x4.sub(v, mh), ml);
  return f32x4.mul(f32x4.sub(f32x4.sub(g, md), f32x4.mul(xm, k)), a);
}
// @ts-ignore: decorator
@inline function bwd1(g: f32, v: f32, mh: f32, ml: f32, k: f32, md: f32, a: f32): f32 {
  return ((g - md) - ((v - mh) - ml) * k) * a;
}

export function bnBwdElemt(
  dx: usize, dy: usize, x: usize, y: usize, cst: usize, n: i32, c: i32, s: i32, cl: i32, fast: i32,
): void {
  if (cl && fast) {
    if (y) bwdRows(dx, dy, x, y, cst, n * s, c, true, true);
    else bwdRows(dx, dy, x, y, cst, n * s, c, false, true);
  } else if (cl) {
    if (y) bwdRows(dx, dy, x, y, cst, n * s, c, true, false);
    else bwdRows(dx, dy, x, y, cst, n * s, c, false, false);
  } else if (fast) {
    if (y) bwdPlanes(dx, dy, x, y, cst, n, c, s, true, true);
    else bwdPlanes(dx, dy, x, y, cst, n, c, s, false, true);
  } else {
    if (y) bwdPlanes(dx, dy, x, y, cst, n, c, s, true, false);
    else bwdPlanes(dx, dy, x, y, cst, n, c, s, false, false);
  }
}

// @ts-ignore: decorator
@inline function bwdPlanes(
  dx: usize, dy: usize, x: usize, y: usize, cst: usize, n: i32, c: i32, s: i32, useY: bool, fast: bool,
): void {
  const c4 = f4((c + 3) & ~3);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const base = f4(<usize>(i * c + ch) * s);
      const q = cst + f4(ch);
      const mh1 = load<f32>(q), ml1 = load<f32>(q + c4), k1 = load<f32>(q + 2 * c4);
      const md1 = load<f32>(q + 3 * c4), a1 = load<f32>(q + 4 * c4);
      const mh = f32x4.splat(mh1), ml = f32x4.splat(ml1), k = f32x4.splat(k1);
      const md = f32x4.splat(md1), a = f32x4.splat(a1);
      const fa = f32x4.splat(load<f32>(q + 5 * c4)), fb = f32x4.splat(load<f32>(q + 6 * c4));
      const fd = f32x4.splat(load<f32>(q + 7 * c4));
      let j = 0;
      for (; j + 8 <= s; j += 8) {
        const off = base + f4(j);
        const g0 = masked(v128.load(dy + off), y, off, useY);
        const g1 = masked(v128.load(dy + off, 16), y, off + 16, useY);
        const v0 = v128.load(x + off);
        const v1 = v128.load(x + off, 16);
        if (fast) {
          v128.store(dx + off, f32x4.add(f32x4.add(f32x4.mul(g0, fa), f32x4.mul(v0, fb)), fd));
          v128.store(dx + off, f32x4.add(f32x4.add(f32x4.mul(g1, fa), f32x4.mul(v1, fb)), fd), 16);
        } else {
          v128.store(dx + off, bwd(g0, v0, mh, ml, k, md, a));
          v128.store(dx + off, bwd(g1, v1, mh, ml, k, md, a), 16);
        }
      }
      for (; j < s; j++) {
        const off = base + f4(j);
        store<f32>(dx + off,
          bwd1(masked1(load<f32>(dy + off), y, off, useY), load<f32>(x + off), mh1, ml1, k1, md1, a1));
      }
    }
  }
}
