// Batch-norm kernels in AssemblyScript with 128-bit SIMD: f32x4 loads widened to f64x2 for reductions, f32x4 elementwise.
//
// Pointers are byte offsets into the shared memory; counts are i32. Layouts (see src/kernels/types.ts):
// channels-first ("planes": n·c runs of s contiguous values, vectorized along the run) and
// channels-last ("rows": n·s rows of c contiguous values, vectorized across channels).
// Per-channel f32 constants arrive as blocks of c4 = roundup(c, 4) floats, so a row's vector loads of
// the constants never read past their block.

const ZERO4: v128 = f32x4.splat(0);

/** Lanes 0,1 of an f32x4 as f64x2. */
// @ts-ignore: decorator
@inline function lo(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}
/** Lanes 2,3 of an f32x4 as f64x2. */
// @ts-ignore: decorator
@inline function hi(v: v128): v128 {
  return f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 2, 3));
}
/** Two floats at `addr` as f64x2: a 64-bit load straight into the widening convert (no shuffle). */
// @ts-ignore: decorator
@inline function p2(addr: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(addr));
}
// @ts-ignore: decorator
@inline function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}
// @ts-ignore: decorator
@inline function f4(p: usize): usize {
  return p << 2;
}
// @ts-ignore: decorator
@inline function f8(p: usize): usize {
  return p << 3;
}
// @ts-ignore: decorator
@inline function addTo(p: usize, v: f64): void {
  store<f64>(p, load<f64>(p) + v);
}
// @ts-ignore: decorator
@inline function addTo2(p: usize, v: v128): void {
  v128.store(p, f64x2.add(v128.load(p), v));
}

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

export function bn_elemt(out: usize, x: usize, cst: usize, n: i32, c: i32, s: i32, cl: i32, relu: i32, fast: i32): void {
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

// @ts-ignore: decorator
@inline function elemtRows(out: usize, x: usize, cst: usize, rows: i32, c: i32, relu: bool): void {
  const c4 = f4((c + 3) & ~3);
  const cv = c & ~3;
  for (let r = 0; r < rows; r++) {
    const off = f4(<usize>r * c);
    const p = x + off;
    const o = out + off;
    let ch = 0;
    for (; ch < cv; ch += 4) {
      const q = cst + f4(ch);
      const y = affine(v128.load(p + f4(ch)), v128.load(q), v128.load(q + c4), v128.load(q + 2 * c4), v128.load(q + 3 * c4), relu);
      v128.store(o + f4(ch), y);
    }
    for (; ch < c; ch++) {
      const q = cst + f4(ch);
      store<f32>(o + f4(ch), affine1(load<f32>(p + f4(ch)), load<f32>(q), load<f32>(q + c4), load<f32>(q + 2 * c4), load<f32>(q + 3 * c4), relu));
    }
  }
}

/**
 * y = x·scale + shift (block 4: shift = β − μ·scale): two constants per channel instead of four. The
 * caller picks it only when every |μ|·invstd ≤ 16, where rounding x·scale costs < 1e-6 of the output scale.
 */
// @ts-ignore: decorator
@inline function elemtRowsFast(out: usize, x: usize, cst: usize, rows: i32, c: i32, relu: bool): void {
  const c4 = f4((c + 3) & ~3);
  const cv = c & ~3;
  for (let r = 0; r < rows; r++) {
    const off = f4(<usize>r * c);
    const p = x + off;
    const o = out + off;
    let ch = 0;
    for (; ch + 16 <= c; ch += 16) {
      const q = cst + f4(ch);
      const pc = p + f4(ch);
      const oc = o + f4(ch);
      const qa = q + 2 * c4;
      const qb = q + 4 * c4;
      const y0 = f32x4.add(f32x4.mul(v128.load(pc), v128.load(qa)), v128.load(qb));
      const y1 = f32x4.add(f32x4.mul(v128.load(pc, 16), v128.load(qa, 16)), v128.load(qb, 16));
      const y2 = f32x4.add(f32x4.mul(v128.load(pc, 32), v128.load(qa, 32)), v128.load(qb, 32));
      const y3 = f32x4.add(f32x4.mul(v128.load(pc, 48), v128.load(qa, 48)), v128.load(qb, 48));
      v128.store(oc, relu ? f32x4.max(y0, ZERO4) : y0);
      v128.store(oc, relu ? f32x4.max(y1, ZERO4) : y1, 16);
      v128.store(oc, relu ? f32x4.max(y2, ZERO4) : y2, 32);
      v128.store(oc, relu ? f32x4.max(y3, ZERO4) : y3, 48);
    }
    for (; ch < cv; ch += 4) {
      const q = cst + f4(ch);
      const y = f32x4.add(f32x4.mul(v128.load(p + f4(ch)), v128.load(q + 2 * c4)), v128.load(q + 4 * c4));
      v128.store(o + f4(ch), relu ? f32x4.max(y, ZERO4) : y);
    }
    for (; ch < c; ch++) {
      const q = cst + f4(ch);
      const y = load<f32>(p + f4(ch)) * load<f32>(q + 2 * c4) + load<f32>(q + 4 * c4);
      store<f32>(o + f4(ch), relu && y < 0 ? 0 : y);
    }
  }
}

// ---- backward reduction: sumDy = Σdy, sumDyXmu = Σdy·(x − μ), float64; dy masked by y > 0 when y ≠ 0 ----

// @ts-ignore: decorator
@inline function masked(dy: v128, yp: usize, off: usize, useY: bool): v128 {
  return useY ? v128.and(dy, f32x4.gt(v128.load(yp + off), ZERO4)) : dy;
}
// @ts-ignore: decorator
@inline function masked1(dy: f32, yp: usize, off: usize, useY: bool): f32 {
  return useY && !(load<f32>(yp + off) > 0) ? 0 : dy;
}

/** dy lanes 0,1 (`half` 0) or 2,3 (`half` 8) at `off` as f64x2, masked by y > 0 when useY. */
// @ts-ignore: decorator
@inline function dy2(dy: usize, y: usize, off: usize, half: usize, useY: bool): v128 {
  if (!useY) return p2(dy + off + half);
  const g = masked(v128.load(dy + off), y, off, true);
  return half == 0 ? lo(g) : hi(g);
}

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

export function bn_bwd_elemt(dx: usize, dy: usize, x: usize, y: usize, cst: usize, n: i32, c: i32, s: i32, cl: i32, fast: i32): void {
  if (cl && fast) {
    if (y) bwdRowsFast(dx, dy, x, y, cst, n * s, c, true);
    else bwdRowsFast(dx, dy, x, y, cst, n * s, c, false);
  } else if (cl) {
    if (y) bwdRows(dx, dy, x, y, cst, n * s, c, true);
    else bwdRows(dx, dy, x, y, cst, n * s, c, false);
  } else if (fast) {
    if (y) bwdPlanes(dx, dy, x, y, cst, n, c, s, true, true);
    else bwdPlanes(dx, dy, x, y, cst, n, c, s, false, true);
  } else {
    if (y) bwdPlanes(dx, dy, x, y, cst, n, c, s, true, false);
    else bwdPlanes(dx, dy, x, y, cst, n, c, s, false, false);
  }
}

// @ts-ignore: decorator
@inline function bwdPlanes(dx: usize, dy: usize, x: usize, y: usize, cst: usize, n: i32, c: i32, s: i32, useY: bool, fast: bool): void {
  const c4 = f4((c + 3) & ~3);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const base = f4(<usize>(i * c + ch) * s);
      const q = cst + f4(ch);
      const mh1 = load<f32>(q), ml1 = load<f32>(q + c4), k1 = load<f32>(q + 2 * c4), md1 = load<f32>(q + 3 * c4), a1 = load<f32>(q + 4 * c4);
      const mh = f32x4.splat(mh1), ml = f32x4.splat(ml1), k = f32x4.splat(k1), md = f32x4.splat(md1), a = f32x4.splat(a1);
      const fa = f32x4.splat(load<f32>(q + 5 * c4)), fb = f32x4.splat(load<f32>(q + 6 * c4)), fd = f32x4.splat(load<f32>(q + 7 * c4));
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
        store<f32>(dx + off, bwd1(masked1(load<f32>(dy + off), y, off, useY), load<f32>(x + off), mh1, ml1, k1, md1, a1));
      }
    }
  }
}

// @ts-ignore: decorator
@inline function bwdRows(dx: usize, dy: usize, x: usize, y: usize, cst: usize, rows: i32, c: i32, useY: bool): void {
  const c4 = f4((c + 3) & ~3);
  const cv = c & ~3;
  for (let r = 0; r < rows; r++) {
    const base = f4(<usize>r * c);
    let ch = 0;
    for (; ch < cv; ch += 4) {
      const off = base + f4(ch);
      const q = cst + f4(ch);
      const g = masked(v128.load(dy + off), y, off, useY);
      v128.store(dx + off, bwd(g, v128.load(x + off), v128.load(q), v128.load(q + c4), v128.load(q + 2 * c4), v128.load(q + 3 * c4), v128.load(q + 4 * c4)));
    }
    for (; ch < c; ch++) {
      const off = base + f4(ch);
      const q = cst + f4(ch);
      const g = masked1(load<f32>(dy + off), y, off, useY);
      store<f32>(dx + off, bwd1(g, load<f32>(x + off), load<f32>(q), load<f32>(q + c4), load<f32>(q + 2 * c4), load<f32>(q + 3 * c4), load<f32>(q + 4 * c4)));
    }
  }
}

/**
 * dx = dy·a + x·b + d (blocks 5, 6, 7: a = γ·invstd, b = −a·k, d = a·(k·μ − mean(dy))): three constants
 * per channel instead of five; picked only when every |μ|·invstd ≤ 16 (see elemtRowsFast).
 */
// @ts-ignore: decorator
@inline function bwdRowsFast(dx: usize, dy: usize, x: usize, y: usize, cst: usize, rows: i32, c: i32, useY: bool): void {
  const c4 = f4((c + 3) & ~3);
  const cv = c & ~3;
  for (let r = 0; r < rows; r++) {
    const base = f4(<usize>r * c);
    let ch = 0;
    for (; ch < cv; ch += 4) {
      const off = base + f4(ch);
      const q = cst + f4(ch);
      const g = masked(v128.load(dy + off), y, off, useY);
      const t = f32x4.add(f32x4.mul(g, v128.load(q + 5 * c4)), f32x4.mul(v128.load(x + off), v128.load(q + 6 * c4)));
      v128.store(dx + off, f32x4.add(t, v128.load(q + 7 * c4)));
    }
    for (; ch < c; ch++) {
      const off = base + f4(ch);
      const q = cst + f4(ch);
      const g = masked1(load<f32>(dy + off), y, off, useY);
      store<f32>(dx + off, (g * load<f32>(q + 5 * c4) + load<f32>(x + off) * load<f32>(q + 6 * c4)) + load<f32>(q + 7 * c4));
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
