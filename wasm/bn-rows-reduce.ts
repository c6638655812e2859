// Channels-last reductions (statistics, backward sums): rows a quarter / half of the tensor apart summed in registers,
// one accumulator update per group.
import { p2, lo, hi, f4, f8, addTo, addTo2, masked, masked1 } from "./bn-simd";

// ---- statistics: s1 = Σ(x − K), s2 = Σ(x − K)² per channel over `rows` rows of c ------------------
// Rows r, r + q, r + 2q, r + 3q go together (q = rows/4): four sequential streams, and each per-channel
// accumulator in memory is read and written once per four rows. The f64 adds, not these loads and
// stores, bound the loop (see README, kernel floor), so register tiling does not pay; and four far-apart
// sequential streams beat four adjacent rows (a 1 KB-strided pattern) by 2x out of cache on this host.

export function sumsRows(x: usize, rows: i32, c: i32, shift: usize, s1: usize, s2: usize): void {
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
    let t1: f64 = 0, t2: f64 = 0;
    for (let i = 0; i < n; i++) {
      const d = <f64>load<f32>(p + <usize>i * far + f4(ch)) - kk;
      t1 += d;
      t2 += d * d;
    }
    addTo(s1 + f8(ch), t1);
    addTo(s2 + f8(ch), t2);
  }
}

// ---- backward: sumDy = Σdy, sumDyXmu = Σdy·(x − μ) over `rows` rows of c; dy masked by y > 0 when useY ----
// Rows r and r + rows/2 go together, as in sumsRows.

// @ts-ignore: decorator
@inline export function reduceRows(
  sumDy: usize, sumDyXmu: usize, dy: usize, x: usize, mean: usize, y: usize, rows: i32, c: i32, useY: bool,
): void {
  const half = rows >> 1;
  const far = f4(<usize>half * c);
  for (let r = 0; r < half; r++) reduceRowPair(sumDy, sumDyXmu, dy, x, mean, y, f4(<usize>r * c), far, c, useY, true);
  for (let r = half << 1; r < rows; r++)
    reduceRowPair(sumDy, sumDyXmu, dy, x, mean, y, f4(<usize>r * c), 0, c, useY, false);
}


// @ts-ignore: decorator
@inline function reduceRowPair(
  sumDy: usize, sumDyXmu: usize, dy: usize, x: usize, mean: usize, y: usize, base: usize, far: usize, c: i32,
  useY: bool, pair: bool,
): void {
  const c4 = c & ~3;
  let ch = 0;
  for (; ch < c4; ch += 4) {
    const m = mean + f8(ch);
    const M0 = v128.load(m), M1 = v128.load(m, 16);
    const off = base + f4(ch);
    let a0: v128, a1: v128;
    if (useY) {
      const g = masked(v128.load(dy + off), y, off, true);
      a0 = lo(g);
      a1 = hi(g);
    } else {
      a0 = p2(dy + off);
      a1 = p2(dy + off + 8);
    }
    let b0 = f64x2.mul(a0, f64x2.sub(p2(x + off), M0));
    let b1 = f64x2.mul(a1, f64x2.sub(p2(x + off + 8), M1));
    if (pair) {
      const off2 = off + far;
      let h0: v128, h1: v128;
      if (useY) {
        const g = masked(v128.load(dy + off2), y, off2, true);
        h0 = lo(g);
        h1 = hi(g);
      } else {
        h0 = p2(dy + off2);
        h1 = p2(dy + off2 + 8);
      }
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
