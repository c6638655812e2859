// Channels-last elementwise passes (forward y, backward dx): row by row, per-channel constant blocks read at one
// running channel offset.
import { f4, masked, masked1, ZERO4 } from "./bn-simd";

// Every pointer that moves with the channel (x, out, dy, each constant block) is fixed once per row or
// per call, and one byte offset i = 4·ch indexes them all; unrolled blocks add constant offsets, which
// are free immediates of the wasm loads and stores. Rows stay in address order: every stream is
// sequential (a prefetcher-friendly pattern; tiling the rows to keep the constants in registers
// strides through memory and measured slower out of cache).

// @ts-ignore: decorator
@inline function relu4(v: v128, relu: bool): v128 {
  return relu ? f32x4.max(v, ZERO4) : v;
}

// ---- forward, exact form: y = ((x − μhi) − μlo)·scale + bias (cst blocks 0..3, see bn-elemt.ts) -------

// @ts-ignore: decorator
@inline function aff(v: v128, mh: usize, ml: usize, sc: usize, b: usize, i: usize, o: usize): v128 {
  return f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v, v128.load(mh + i + o)), v128.load(ml + i + o)),
    v128.load(sc + i + o)), v128.load(b + i + o));
}

// @ts-ignore: decorator
@inline export function elemtRows(out: usize, x: usize, cst: usize, rows: i32, c: i32, relu: bool): void {
  const cb = f4((c + 3) & ~3);
  const mh = cst, ml = cst + cb, sc = cst + 2 * cb, bb = cst + 3 * cb;
  const c8 = f4(c & ~7), c4 = f4(c & ~3), cc = f4(c);
  for (let r = 0; r < rows; r++) {
    const p = x + <usize>r * cc, o = out + <usize>r * cc;
    let i: usize = 0;
    for (; i < c8; i += 32) {
      const v0 = v128.load(p + i), v1 = v128.load(p + i, 16);
      v128.store(o + i, relu4(aff(v0, mh, ml, sc, bb, i, 0), relu));
      v128.store(o + i, relu4(aff(v1, mh, ml, sc, bb, i, 16), relu), 16);
    }
    if (i < c4) {
      v128.store(o + i, relu4(aff(v128.load(p + i), mh, ml, sc, bb, i, 0), relu));
      i += 16;
    }
    for (; i < cc; i += 4) {
      const y = ((load<f32>(p + i) - load<f32>(mh + i)) - load<f32>(ml + i)) * load<f32>(sc + i) + load<f32>(bb + i);
      store<f32>(o + i, relu && y < 0 ? 0 : y);
    }
  }
}

// ---- forward, fast form: y = x·scale + shift (blocks 2, 4), when every |μ|·invstd ≤ 16 ----------------

// @ts-ignore: decorator
@inline function fma4(v: v128, a: usize, b: usize, i: usize, o: usize): v128 {
  return f32x4.add(f32x4.mul(v, v128.load(a + i + o)), v128.load(b + i + o));
}

// @ts-ignore: decorator
@inline export function elemtRowsFast(out: usize, x: usize, cst: usize, rows: i32, c: i32, relu: bool): void {
  const cb = f4((c + 3) & ~3);
  const sc = cst + 2 * cb, sh = cst + 4 * cb;
  const c16 = f4(c & ~15), c4 = f4(c & ~3), cc = f4(c);
  for (let r = 0; r < rows; r++) {
    const p = x + <usize>r * cc, o = out + <usize>r * cc;
    let i: usize = 0;
    for (; i < c16; i += 64) {
      const v0 = v128.load(p + i), v1 = v128.load(p + i, 16), v2 = v128.load(p + i, 32), v3 = v128.load(p + i, 48);
      v128.store(o + i, relu4(fma4(v0, sc, sh, i, 0), relu));
      v128.store(o + i, relu4(fma4(v1, sc, sh, i, 16), relu), 16);
      v128.store(o + i, relu4(fma4(v2, sc, sh, i, 32), relu), 32);
      v128.store(o + i, relu4(fma4(v3, sc, sh, i, 48), relu), 48);
    }
    for (; i < c4; i += 16) v128.store(o + i, relu4(fma4(v128.load(p + i), sc, sh, i, 0), relu));
    for (; i < cc; i += 4) {
      const y = load<f32>(p + i) * load<f32>(sc + i) + load<f32>(sh + i);
      store<f32>(o + i, relu && y < 0 ? 0 : y);
    }
  }
}

// ---- backward: exact dx = ((dy − mean(dy)) − ((x − μhi) − μlo)·k)·a (cst blocks 0..4), or fast ------

// @ts-ignore: decorator
@inline function bwd4(g: v128, v: v128, cst: usize, cb: usize, i: usize, o: usize): v128 {
  const q = cst + i + o;
  const xm = f32x4.sub(f32x4.sub(v, v128.load(q)), v128.load(q + cb));
  return f32x4.mul(f32x4.sub(f32x4.sub(g, v128.load(q + 3 * cb)), f32x4.mul(xm, v128.load(q + 2 * cb))),
    v128.load(q + 4 * cb));
}

// Fast form: dx = dy·a + x·b + d (blocks 5, 6, 7), when every |μ|·invstd ≤ 16.
// @ts-ignore: decorator
@inline function bwdFast4(g: v128, v: v128, qa: usize, qb: usize, qd: usize, i: usize, o: usize): v128 {
  return f32x4.add(f32x4.add(f32x4.mul(g, v128.load(qa + i + o)), f32x4.mul(v, v128.load(qb + i + o))),
    v128.load(qd + i + o));
}

/** Both backward forms: `fast` picks dx = dy·a + x·b + d (blocks 5..7), else the exact form (blocks 0..4). */
// @ts-ignore: decorator
@inline export function bwdRows(
  dx: usize, dy: usize, x: usize, y: usize, cst: usize, rows: i32, c: i32, useY: bool, fast: bool,
): void {
  const cb = f4((c + 3) & ~3);
  const qa = cst + 5 * cb, qb = cst + 6 * cb, qd = cst + 7 * cb;
  const c8 = f4(c & ~7), c4 = f4(c & ~3), cc = f4(c);
  for (let r = 0; r < rows; r++) {
    const base = <usize>r * cc;
    const pg = dy + base, px = x + base, po = dx + base, yr = y + base;
    let i: usize = 0;
    for (; i < c8; i += 32) {
      const g0 = masked(v128.load(pg + i), yr, i, useY), g1 = masked(v128.load(pg + i, 16), yr, i + 16, useY);
      const v0 = v128.load(px + i), v1 = v128.load(px + i, 16);
      v128.store(po + i, fast ? bwdFast4(g0, v0, qa, qb, qd, i, 0) : bwd4(g0, v0, cst, cb, i, 0));
      v128.store(po + i, fast ? bwdFast4(g1, v1, qa, qb, qd, i, 16) : bwd4(g1, v1, cst, cb, i, 16), 16);
    }
    if (i < c4) {
      const g = masked(v128.load(pg + i), yr, i, useY), v = v128.load(px + i);
      v128.store(po + i, fast ? bwdFast4(g, v, qa, qb, qd, i, 0) : bwd4(g, v, cst, cb, i, 0));
      i += 16;
    }
    for (; i < cc; i += 4) {
      const g = masked1(load<f32>(pg + i), yr, i, useY), v = load<f32>(px + i);
      if (fast) {
        store<f32>(po + i, (g * load<f32>(qa + i) + v * load<f32>(qb + i)) + load<f32>(qd + i));
      } else {
        const q = cst + i;
        const xm = (v - load<f32>(q)) - load<f32>(q + cb);
        store<f32>(po + i, ((g - load<f32>(q + 3 * cb)) - xm * load<f32>(q + 2 * cb)) * load<f32>(q + 4 * cb));
      }
    }
  }
}
