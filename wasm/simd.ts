// Small SIMD helpers shared by the nn kernels: zero, copy/accumulate and a float64-widened sum of float32 runs.

/** dst[0..n) = 0. */
// @ts-ignore: decorator
@inline
export function zeroF32(dst: usize, n: i32): void {
  if (n > 0) memory.fill(dst, 0, <usize>n << 2);
}

/** dst[t] (+)= src[t] for t < n (accumulate = scatter-add), four lanes at a time. */
export function moveF32(dst: usize, src: usize, n: i32, accumulate: bool): void {
  let t = 0;
  if (accumulate) {
    for (; t + 4 <= n; t += 4) {
      const o = <usize>t << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
    for (; t < n; t++) {
      const o = <usize>t << 2;
      store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
    }
  } else {
    for (; t + 4 <= n; t += 4) {
      const o = <usize>t << 2;
      v128.store(dst + o, v128.load(src + o));
    }
    for (; t < n; t++) {
      const o = <usize>t << 2;
      store<f32>(dst + o, load<f32>(src + o));
    }
  }
}

/** Σ of n floats: each f32x4 load widened to two f64x2 (exact), accumulated in float64. */
export function sumF32(p: usize, n: i32): f64 {
  let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
  let t = 0;
  for (; t + 4 <= n; t += 4) {
    const v = v128.load(p + (<usize>t << 2));
    a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v));
    a1 = f64x2.add(a1, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)));
  }
  let s = f64x2.extract_lane(a0, 0) + f64x2.extract_lane(a0, 1) + f64x2.extract_lane(a1, 0) + f64x2.extract_lane(a1, 1);
  for (; t < n; t++) s += <f64>load<f32>(p + (<usize>t << 2));
  return s;
}
