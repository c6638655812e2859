// Shared SIMD helpers of the batch- and group-norm kernels: f32→f64 widening, pointer arithmetic, accumulators,
// ReLU masks, and the two contiguous-run reductions both norms are built on.

export const ZERO4: v128 = f32x4.splat(0);

/** Lanes 0,1 of an f32x4 as f64x2. */
// @ts-ignore: decorator
@inline export function lo(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}
/** Lanes 2,3 of an f32x4 as f64x2. */
// @ts-ignore: decorator
@inline export function hi(v: v128): v128 {
  return f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 2, 3));
}
/** Two floats at `addr` as f64x2: a 64-bit load straight into the widening convert (no shuffle). */
// @ts-ignore: decorator
@inline export function p2(addr: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(addr));
}
// @ts-ignore: decorator
@inline export function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}
// @ts-ignore: decorator
@inline export function f4(p: usize): usize {
  return p << 2;
}
// @ts-ignore: decorator
@inline export function f8(p: usize): usize {
  return p << 3;
}
// @ts-ignore: decorator
@inline export function addTo(p: usize, v: f64): void {
  store<f64>(p, load<f64>(p) + v);
}
// @ts-ignore: decorator
@inline export function addTo2(p: usize, v: v128): void {
  v128.store(p, f64x2.add(v128.load(p), v));
}


// @ts-ignore: decorator
@inline export function masked(dy: v128, yp: usize, off: usize, useY: bool): v128 {
  return useY ? v128.and(dy, f32x4.gt(v128.load(yp + off), ZERO4)) : dy;
}
// @ts-ignore: decorator
@inline export function masked1(dy: f32, yp: usize, off: usize, useY: bool): f32 {
  return useY && !(load<f32>(yp + off) > 0) ? 0 : dy;
}

/** dy lanes 0,1 (`half` 0) or 2,3 (`half` 8) at `off` as f64x2, masked by y > 0 when useY. */
// @ts-ignore: decorator
@inline export function dy2(dy: usize, y: usize, off: usize, half: usize, useY: bool): v128 {
  if (!useY) return p2(dy + off + half);
  const g = masked(v128.load(dy + off), y, off, true);
  return half == 0 ? lo(g) : hi(g);
}

/**
 * One contiguous run of `len` floats at p, shifted by K: adds Σ(x − K) to [s1] and Σ(x − K)² to [s2] (f64).
 * With K a sample of the data, x − K is exact in f64 and M2 = s2 − s1²/count does not cancel catastrophically.
 */
// @ts-ignore: decorator
@inline export function shiftedRun(p: usize, len: i32, kk: f64, s1: usize, s2: usize): void {
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
  addTo(s1, t1);
  addTo(s2, t2);
}

/**
 * One contiguous run of `len` floats at byte offset `base` of dy, x (and y): adds Σdy to [sumDy] and
 * Σdy·(x − μ) to [sumDyXmu] (f64); dy counts only where y > 0 when useY.
 */
// @ts-ignore: decorator
@inline export function bwdRun(
  sumDy: usize, sumDyXmu: usize, dy: usize, x: usize, y: usize, base: usize, len: i32, mu: f64, useY: bool,
): void {
  const M = f64x2.splat(mu);
  let a0 = f64x2.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  let j = 0;
  for (; j + 8 <= len; j += 8) {
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
  for (; j < len; j++) {
    const off = base + f4(j);
    const g = <f64>masked1(load<f32>(dy + off), y, off, useY);
    t1 += g;
    t2 += g * (<f64>load<f32>(x + off) - mu);
  }
  addTo(sumDy, t1);
  addTo(sumDyXmu, t2);
}
