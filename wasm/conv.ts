// 2-D convolution (AssemblyScript, SIMD): im2col blocks of output positions feeding the 4×8 GEMM micro-kernel, forward and both gradients.
import { block4x8, packPanel } from "./gemm";

// Geometry is passed per call; a block covers `pb` output positions (pb a multiple of 8, chosen by the
// binding so a K×pb column block stays in L2). Scratch (from the TypeScript heap, reused across calls)
// holds the column block and, for the weight gradient, dyᵀ and a float32 dWᵀ accumulator.

// @ts-ignore: decorator
@inline
function zeroF32(dst: usize, n: i32): void {
  memory.fill(dst, 0, <usize>n << 2);
}

/** dst[t] (+)= src[t] for t < n (accumulate = col2im), four lanes at a time. */
// @ts-ignore: decorator
@inline
function moveF32(dst: usize, src: usize, n: i32, accumulate: bool): void {
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

// Geometry shared by the column transforms (module globals: set once per call, read in the loops).
let gH: i32 = 0, gW: i32 = 0, gKh: i32 = 0, gKw: i32 = 0, gSh: i32 = 0, gSw: i32 = 0;
let gPh: i32 = 0, gPw: i32 = 0, gDh: i32 = 0, gDw: i32 = 0, gOutW: i32 = 0;

/**
 * Column block ↔ image for one channel group: row k = (c, i, j) of the block, column q = output position
 * p0 + q = (oh, ow), holds x[c][oh·sh − ph + i·dh][ow·sw − pw + j·dw] (0 in the padding).
 * toCol: col = im2col(x); else x += col2im(col) (the adjoint, scatter-add).
 */
function columns(toCol: bool, col: usize, ldcol: usize, xg: usize, cg: i32, p0: i32, pb: i32): void {
  const h = gH, w = gW, outW = gOutW;
  let row = col;
  for (let c = 0; c < cg; c++) {
    const xc = xg + (<usize>(c * h * w) << 2);
    for (let i = 0; i < gKh; i++) {
      for (let j = 0; j < gKw; j++) {
        let p = p0;
        let q = 0;
        while (q < pb) {
          const oh = p / outW;
          const ow = p - oh * outW;
          const seg = min(outW - ow, pb - q);
          const dst = row + (<usize>q << 2);
          const ih = oh * gSh - gPh + i * gDh;
          const iw0 = ow * gSw - gPw + j * gDw;
          if (ih < 0 || ih >= h) {
            if (toCol) zeroF32(dst, seg);
          } else {
            const src = xc + (<usize>(ih * w) << 2);
            if (gSw == 1) {
              // valid t: 0 ≤ iw0 + t < w
              const lo = min(max(-iw0, 0), seg);
              const hi = max(min(w - iw0, seg), lo);
              if (toCol) {
                zeroF32(dst, lo);
                moveF32(dst + (<usize>lo << 2), src + (<usize>(iw0 + lo) << 2), hi - lo, false);
                zeroF32(dst + (<usize>hi << 2), seg - hi);
              } else {
                moveF32(src + (<usize>(iw0 + lo) << 2), dst + (<usize>lo << 2), hi - lo, true);
              }
            } else {
              for (let t = 0; t < seg; t++) {
                const iw = iw0 + t * gSw;
                const d = dst + (<usize>t << 2);
                if (toCol) store<f32>(d, iw >= 0 && iw < w ? load<f32>(src + (<usize>iw << 2)) : 0);
                else if (iw >= 0 && iw < w) store<f32>(src + (<usize>iw << 2), load<f32>(src + (<usize>iw << 2)) + load<f32>(d));
              }
            }
          }
          p += seg;
          q += seg;
        }
        row += ldcol;
      }
    }
  }
}

function setGeom(h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, outW: i32): void {
  gH = h; gW = w; gKh = kh; gKw = kw; gSh = sh; gSw = sw; gPh = ph; gPw = pw; gDh = dh; gDw = dw; gOutW = outW;
}

/** out[N,O,oh,ow] = bias[o] + Σ w[o,c,i,j]·x[…]: per block, out_g[og × pb] = W_g[og × K] · col[K × pb]. */
export function conv2d_forward(
  out: usize, x: usize, wt: usize, bias: usize, n: i32, cIn: i32, h: i32, w: i32, cOut: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: i32, outH: i32, outW: i32, scratch: usize, pb: i32,
): void {
  setGeom(h, w, kh, kw, sh, sw, ph, pw, dh, dw, outW);
  const cg = cIn / groups, og = cOut / groups, K = cg * kh * kw, P = outH * outW;
  const ldcol = <usize>pb << 2, ldo = <usize>P << 2, kb = <usize>K << 2;
  for (let s = 0; s < n; s++) {
    for (let g = 0; g < groups; g++) {
      const xg = x + (<usize>((s * cIn + g * cg) * h * w) << 2);
      const yg = out + (<usize>((s * cOut + g * og) * P) << 2);
      const wg = wt + (<usize>(g * og * K) << 2);
      for (let p0 = 0; p0 < P; p0 += pb) {
        const cur = min(pb, P - p0);
        columns(true, scratch, ldcol, xg, cg, p0, cur);
        for (let j = 0; j < cur; j += 8) {
          const nr = min(8, cur - j);
          for (let i = 0; i < og; i += 4) {
            const bi: usize = bias == 0 ? 0 : bias + (<usize>(g * og + i) << 2);
            block4x8(K, min(4, og - i), nr, wg + <usize>i * kb, kb, 4, scratch + (<usize>j << 2), ldcol,
              yg + <usize>i * ldo + (<usize>(p0 + j) << 2), ldo, bi, 1, 0);
          }
        }
      }
    }
  }
}

/** dx = convᵀ(dy): per block, col[K × pb] = W_gᵀ[K × og] · dy_g[og × pb], then dx += col2im(col). */
export function conv2d_backward_input(
  dx: usize, dy: usize, wt: usize, n: i32, cIn: i32, h: i32, w: i32, cOut: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: i32, outH: i32, outW: i32, scratch: usize, pb: i32,
): void {
  setGeom(h, w, kh, kw, sh, sw, ph, pw, dh, dw, outW);
  const cg = cIn / groups, og = cOut / groups, K = cg * kh * kw, P = outH * outW;
  const ldcol = <usize>pb << 2, ldy = <usize>P << 2, kb = <usize>K << 2;
  zeroF32(dx, n * cIn * h * w);
  for (let s = 0; s < n; s++) {
    for (let g = 0; g < groups; g++) {
      const xg = dx + (<usize>((s * cIn + g * cg) * h * w) << 2);
      const yg = dy + (<usize>((s * cOut + g * og) * P) << 2);
      const wg = wt + (<usize>(g * og * K) << 2);
      for (let p0 = 0; p0 < P; p0 += pb) {
        const cur = min(pb, P - p0);
        for (let j = 0; j < cur; j += 8) {
          const nr = min(8, cur - j);
          let b = yg + (<usize>(p0 + j) << 2);
          let ldb = ldy;
          if (nr < 8) {
            b = packPanel(og, nr, b, ldy, 4, scratch + <usize>K * ldcol);
            ldb = 32;
          }
          for (let i = 0; i < K; i += 4) {
            block4x8(og, min(4, K - i), nr, wg + (<usize>i << 2), 4, kb, b, ldb, scratch + <usize>i * ldcol + (<usize>j << 2), ldcol, 0, 1, 0);
          }
        }
        columns(false, scratch, ldcol, xg, cg, p0, cur);
      }
    }
  }
}

/**
 * dw += Σ dy·x over positions: per block, dWᵀ[K × og] += col[K × pb] · dyᵀ[pb × og] (float32 accumulator in
 * scratch, added to dw once per group); dbias[o] += Σ dy[·,o,·,·] summed per row in f32x4, across rows in float64.
 */
export function conv2d_backward_weight(
  dwt: usize, dbias: usize, dy: usize, x: usize, n: i32, cIn: i32, h: i32, w: i32, cOut: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: i32, outH: i32, outW: i32, scratch: usize, pb: i32,
): void {
  setGeom(h, w, kh, kw, sh, sw, ph, pw, dh, dw, outW);
  const cg = cIn / groups, og = cOut / groups, K = cg * kh * kw, P = outH * outW;
  const ogp = (og + 7) & ~7;
  const ldcol = <usize>pb << 2, ldt = <usize>ogp << 2;
  const dyT = scratch + <usize>K * ldcol;
  const acc = dyT + <usize>pb * ldt;
  for (let g = 0; g < groups; g++) {
    zeroF32(acc, K * ogp);
    for (let s = 0; s < n; s++) {
      const xg = x + (<usize>((s * cIn + g * cg) * h * w) << 2);
      const yg = dy + (<usize>((s * cOut + g * og) * P) << 2);
      for (let p0 = 0; p0 < P; p0 += pb) {
        const cur = min(pb, P - p0);
        columns(true, scratch, ldcol, xg, cg, p0, cur);
        for (let o = 0; o < og; o++) {
          const src = yg + (<usize>(o * P + p0) << 2);
          for (let q = 0; q < cur; q++) store<f32>(dyT + <usize>q * ldt + (<usize>o << 2), load<f32>(src + (<usize>q << 2)));
        }
        for (let j = 0; j < og; j += 8) {
          const nr = min(8, og - j);
          for (let i = 0; i < K; i += 4) {
            block4x8(cur, min(4, K - i), nr, scratch + <usize>i * ldcol, ldcol, 4, dyT + (<usize>j << 2), ldt,
              acc + <usize>i * ldt + (<usize>j << 2), ldt, 0, 1, 1);
          }
        }
      }
    }
    for (let o = 0; o < og; o++) {
      const dst = dwt + (<usize>((g * og + o) * K) << 2);
      for (let k = 0; k < K; k++) {
        const d = dst + (<usize>k << 2);
        store<f32>(d, load<f32>(d) + load<f32>(acc + <usize>k * ldt + (<usize>o << 2)));
      }
    }
  }
  if (dbias == 0) return;
  for (let o = 0; o < cOut; o++) {
    let total: f64 = 0;
    for (let s = 0; s < n; s++) total += rowSum(dy + (<usize>((s * cOut + o) * P) << 2), P);
    const d = dbias + (<usize>o << 2);
    store<f32>(d, <f32>(<f64>load<f32>(d) + total));
  }
}

/** Σ of n floats: f32x4 partial sums widened to float64 every 4 lanes (exact for the partials). */
export function rowSum(p: usize, n: i32): f64 {
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
