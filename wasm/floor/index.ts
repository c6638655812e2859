// Floor microbenchmark kernels (not part of syncbn.wasm): the bare accumulate loops that bound the batch-norm
// reductions.
// Built to dist/wasm/floor.wasm by `npm run build:wasm`; run by bench/floor.ts. Each kernel sums n floats at
// p (n a multiple of 16) and returns a value that depends on every load, so no load is dead code. The
// f64 loops are deliberately the inner loops of bnSums / bnBwdReduce (wasm/bn-reduce.ts) on their own.

import { p2, hsum as h } from "../bn-simd";

/** Read bandwidth: OR of every 16-byte load (integer ops, no floating point). */
export function readOr(p: usize, n: i32): f64 {
  let a = i32x4.splat(0), b = a, c = a, d = a;
  const end = p + (<usize>n << 2);
  for (; p < end; p += 64) {
    a = v128.or(a, v128.load(p));
    b = v128.or(b, v128.load(p, 16));
    c = v128.or(c, v128.load(p, 32));
    d = v128.or(d, v128.load(p, 48));
  }
  const r = v128.or(v128.or(a, b), v128.or(c, d));
  return <f64>(i32x4.extract_lane(r, 0) ^ i32x4.extract_lane(r, 3));
}

/** Σx in float32 lanes (4 values per add): what an f32-accumulating kernel needs per value. */
export function f32Sum(p: usize, n: i32): f64 {
  let a = f32x4.splat(0), b = a, c = a, d = a;
  const end = p + (<usize>n << 2);
  for (; p < end; p += 64) {
    a = f32x4.add(a, v128.load(p));
    b = f32x4.add(b, v128.load(p, 16));
    c = f32x4.add(c, v128.load(p, 32));
    d = f32x4.add(d, v128.load(p, 48));
  }
  const r = f32x4.add(f32x4.add(a, b), f32x4.add(c, d));
  return <f64>(f32x4.extract_lane(r, 0) + f32x4.extract_lane(r, 3));
}

/** Σx widened to float64 (2 values per convert and per add): the bare f64-widening accumulate. */
export function f64Sum(p: usize, n: i32): f64 {
  let a = f64x2.splat(0), b = a, c = a, d = a, e = a, f = a, g = a, k = a;
  const end = p + (<usize>n << 2);
  for (; p < end; p += 64) {
    a = f64x2.add(a, p2(p));
    b = f64x2.add(b, p2(p + 8));
    c = f64x2.add(c, p2(p + 16));
    d = f64x2.add(d, p2(p + 24));
    e = f64x2.add(e, p2(p + 32));
    f = f64x2.add(f, p2(p + 40));
    g = f64x2.add(g, p2(p + 48));
    k = f64x2.add(k, p2(p + 56));
  }
  return h(f64x2.add(f64x2.add(f64x2.add(a, b), f64x2.add(c, d)), f64x2.add(f64x2.add(e, f), f64x2.add(g, k))));
}

/** The statistics loop: Σ(x − K) and Σ(x − K)² in float64 (convert, sub, add, mul, add per 2 values). */
export function f64Stats(p: usize, n: i32, kk: f64): f64 {
  const K = f64x2.splat(kk);
  let a0 = f64x2.splat(0), a1 = a0, a2 = a0, a3 = a0, q0 = a0, q1 = a0, q2 = a0, q3 = a0;
  const end = p + (<usize>n << 2);
  for (; p < end; p += 32) {
    const d0 = f64x2.sub(p2(p), K), d1 = f64x2.sub(p2(p + 8), K);
    const d2 = f64x2.sub(p2(p + 16), K), d3 = f64x2.sub(p2(p + 24), K);
    a0 = f64x2.add(a0, d0);
    a1 = f64x2.add(a1, d1);
    a2 = f64x2.add(a2, d2);
    a3 = f64x2.add(a3, d3);
    q0 = f64x2.add(q0, f64x2.mul(d0, d0));
    q1 = f64x2.add(q1, f64x2.mul(d1, d1));
    q2 = f64x2.add(q2, f64x2.mul(d2, d2));
    q3 = f64x2.add(q3, f64x2.mul(d3, d3));
  }
  return h(f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3))) + h(f64x2.add(f64x2.add(q0, q1), f64x2.add(q2, q3)));
}

/**
 * The backward loop over dy at p and x at p2: Σdy and Σdy·(x − μ) in float64
 * (2 converts, sub, mul, 2 adds per 2 values).
 */
export function f64Bwd(p: usize, px: usize, n: i32, mu: f64): f64 {
  const M = f64x2.splat(mu);
  let a0 = f64x2.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  const end = p + (<usize>n << 2);
  for (; p < end; p += 32, px += 32) {
    const g0 = p2(p), g1 = p2(p + 8), g2 = p2(p + 16), g3 = p2(p + 24);
    a0 = f64x2.add(a0, g0);
    a1 = f64x2.add(a1, g1);
    a2 = f64x2.add(a2, g2);
    a3 = f64x2.add(a3, g3);
    b0 = f64x2.add(b0, f64x2.mul(g0, f64x2.sub(p2(px), M)));
    b1 = f64x2.add(b1, f64x2.mul(g1, f64x2.sub(p2(px + 8), M)));
    b2 = f64x2.add(b2, f64x2.mul(g2, f64x2.sub(p2(px + 16), M)));
    b3 = f64x2.add(b3, f64x2.mul(g3, f64x2.sub(p2(px + 24), M)));
  }
  return h(f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3))) + h(f64x2.add(f64x2.add(b0, b1), f64x2.add(b2, b3)));
}

/** The f32 elementwise pass y = x·a + b (load, mul, add, store per 4 values): streaming read + write. */
export function f32Affine(out: usize, p: usize, n: i32, a: f32, b: f32): void {
  const A = f32x4.splat(a), B = f32x4.splat(b);
  const end = p + (<usize>n << 2);
  for (; p < end; p += 64, out += 64) {
    v128.store(out, f32x4.add(f32x4.mul(v128.load(p), A), B));
    v128.store(out, f32x4.add(f32x4.mul(v128.load(p, 16), A), B), 16);
    v128.store(out, f32x4.add(f32x4.mul(v128.load(p, 32), A), B), 32);
    v128.store(out, f32x4.add(f32x4.mul(v128.load(p, 48), A), B), 48);
  }
}
