// Shared SIMD helpers of the batch-norm kernels: f32→f64 widening, pointer arithmetic, in-memory accumulators, ReLU masks.

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
