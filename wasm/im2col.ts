// The general convolution path (any stride): im2col blocks of output positions through the 4×8 GEMM micro-kernel, and
// col2im for the input gradient.
import { blockStrided, packPanel } from "./gemm";
import { zeroF32, moveF32 } from "./simd";
import {
  gN, gC, gH, gW, gO, gKh, gKw, gSh, gSw, gPh, gPw, gDh, gDw, gG, gOutW, cg, og, kdim, plane, ogPad,
} from "./convgeom";

/**
 * Output positions per column block: a multiple of 8 (the micro-kernel's width) with K·pb ≤ 64 Ki floats
 * (256 KiB, within L2), at most the whole plane (rounded up to 8).
 */
export function blockWidth(): i32 {
  const P = plane();
  return max(8, min((P + 7) & ~7, (65536 / kdim()) & ~7));
}

/** Scratch bytes: 0 forward, 1 input gradient, 2 weight gradient. */
export function im2colScratch(which: i32): i32 {
  const K = kdim(), pb = blockWidth(), ogp = ogPad();
  if (which == 0) return K * pb * 4;
  if (which == 1) return (K * pb + og() * 8) * 4;
  return (K * pb + pb * ogp + K * ogp) * 4;
}

/**
 * Column block ↔ image for one channel group: row k = (c, i, j), column q = output position p0 + q = (oh, ow)
 * holds x[c][oh·sh − ph + i·dh][ow·sw − pw + j·dw] (0 in the padding).
 * toCol: col = im2col(x); else x += col2im(col) (the adjoint: scatter-add).
 */
function columns(toCol: bool, col: usize, ldcol: usize, xg: usize, p0: i32, pb: i32): void {
  const h = gH, w = gW, outW = gOutW, channels = cg();
  let row = col;
  for (let c = 0; c < channels; c++) {
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
              // valid t: 0 ≤ iw0 + t·sw < w, i.e. ⌈−iw0/sw⌉ ≤ t < ⌈(w − iw0)/sw⌉
              const lo = min(max(ceilDiv(-iw0, gSw), 0), seg);
              const hi = max(min(ceilDiv(w - iw0, gSw), seg), lo);
              const s0 = src + (<usize>(iw0 + lo * gSw) << 2);
              const d0 = dst + (<usize>lo << 2);
              if (toCol) {
                zeroF32(dst, lo);
                gatherStrided(d0, s0, hi - lo, gSw);
                zeroF32(dst + (<usize>hi << 2), seg - hi);
              } else {
                for (let t = 0; t < hi - lo; t++) {
                  const xs = s0 + (<usize>(t * gSw) << 2);
                  store<f32>(xs, load<f32>(xs) + load<f32>(d0 + (<usize>t << 2)));
                }
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

/** ⌈a/b⌉ for b > 0 and any sign of a. */
// @ts-ignore: decorator
@inline function ceilDiv(a: i32, b: i32): i32 {
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

/** dst[t] = src[t·stride] for t < n; stride 2 takes the even lanes of two vectors per four outputs. */
function gatherStrided(dst: usize, src: usize, n: i32, stride: i32): void {
  let t = 0;
  if (stride == 2) {
    // reads src[0 .. 2n − 1) only: the last vector pair would read one float past, so stop a group early
    for (; t + 4 < n; t += 4) {
      const s = src + (<usize>t << 3);
      v128.store(dst + (<usize>t << 2), v128.shuffle<f32>(v128.load(s), v128.load(s, 16), 0, 2, 4, 6));
    }
  }
  for (; t < n; t++) store<f32>(dst + (<usize>t << 2), load<f32>(src + (<usize>(t * stride) << 2)));
}

/** Per block: out_g[og × pb] = bias + W_g[og × K] · col[K × pb]. */
export function im2colForward(out: usize, x: usize, wt: usize, bias: usize, scratch: usize): void {
  const C = cg(), O = og(), K = kdim(), P = plane(), pb = blockWidth();
  const ldcol = <usize>pb << 2, ldo = <usize>P << 2, kb = <usize>K << 2;
  for (let s = 0; s < gN; s++) {
    for (let g = 0; g < gG; g++) {
      const xg = x + (<usize>((s * gC + g * C) * gH * gW) << 2);
      const yg = out + (<usize>((s * gO + g * O) * P) << 2);
      const wg = wt + (<usize>(g * O * K) << 2);
      for (let p0 = 0; p0 < P; p0 += pb) {
        const cur = min(pb, P - p0);
        columns(true, scratch, ldcol, xg, p0, cur);
        for (let j = 0; j < cur; j += 8) {
          const nr = min(8, cur - j);
          for (let i = 0; i < O; i += 4) {
            const bi: usize = bias == 0 ? 0 : bias + (<usize>(g * O + i) << 2);
            blockStrided(K, min(4, O - i), nr, wg + <usize>i * kb, kb, 4, scratch + (<usize>j << 2), ldcol, 0,
              yg + <usize>i * ldo + (<usize>(p0 + j) << 2), ldo, bi, 1, 0);
          }
        }
      }
    }
  }
}

/** Per block: col[K × pb] = W_gᵀ[K × og] · dy_g[og × pb], then dx += col2im(col). dx is zeroed first. */
export function im2colBackwardInput(dx: usize, dy: usize, wt: usize, scratch: usize): void {
  const C = cg(), O = og(), K = kdim(), P = plane(), pb = blockWidth();
  const ldcol = <usize>pb << 2, ldy = <usize>P << 2, kb = <usize>K << 2;
  const panel = scratch + <usize>K * ldcol;
  zeroF32(dx, gN * gC * gH * gW);
  for (let s = 0; s < gN; s++) {
    for (let g = 0; g < gG; g++) {
      const xg = dx + (<usize>((s * gC + g * C) * gH * gW) << 2);
      const yg = dy + (<usize>((s * gO + g * O) * P) << 2);
      const wg = wt + (<usize>(g * O * K) << 2);
      for (let p0 = 0; p0 < P; p0 += pb) {
        const cur = min(pb, P - p0);
        for (let j = 0; j < cur; j += 8) {
          const nr = min(8, cur - j);
          let b = yg + (<usize>(p0 + j) << 2);
          let ldb = ldy;
          if (nr < 8) {
            b = packPanel(O, nr, b, ldy, 4, panel);
            ldb = 32;
          }
          for (let i = 0; i < K; i += 4) {
            blockStrided(O, min(4, K - i), nr, wg + (<usize>i << 2), 4, kb, b, ldb, 0,
              scratch + <usize>i * ldcol + (<usize>j << 2), ldcol, 0, 1, 0);
          }
        }
        columns(false, scratch, ldcol, xg, p0, cur);
      }
    }
  }
}

/** Per block: acc = dWᵀ[K × og] += col[K × pb] · dyᵀ[pb × og]; then dw[g·og + o][k] += acc[k][o]. */
export function im2colBackwardWeight(dwt: usize, dy: usize, x: usize, scratch: usize): void {
  const C = cg(), O = og(), K = kdim(), P = plane(), pb = blockWidth(), ogp = ogPad();
  const ldcol = <usize>pb << 2, ldt = <usize>ogp << 2;
  const dyT = scratch + <usize>K * ldcol;
  const acc = dyT + <usize>pb * ldt;
  for (let g = 0; g < gG; g++) {
    zeroF32(acc, K * ogp);
    for (let s = 0; s < gN; s++) {
      const xg = x + (<usize>((s * gC + g * C) * gH * gW) << 2);
      const yg = dy + (<usize>((s * gO + g * O) * P) << 2);
      for (let p0 = 0; p0 < P; p0 += pb) {
        const cur = min(pb, P - p0);
        columns(true, scratch, ldcol, xg, p0, cur);
        for (let o = 0; o < O; o++) {
          const src = yg + (<usize>(o * P + p0) << 2);
          for (let q = 0; q < cur; q++)
            store<f32>(dyT + <usize>q * ldt + (<usize>o << 2), load<f32>(src + (<usize>q << 2)));
        }
        for (let j = 0; j < O; j += 8) {
          const nr = min(8, O - j);
          for (let i = 0; i < K; i += 4) {
            blockStrided(cur, min(4, K - i), nr, scratch + <usize>i * ldcol, ldcol, 4, dyT + (<usize>j << 2), ldt, 0,
              acc + <usize>i * ldt + (<usize>j << 2), ldt, 0, 1, 1);
          }
        }
      }
    }
    addTransposed(dwt + (<usize>(g * O * K) << 2), acc, O, K, ogp);
  }
}

/** dw[o][k] += acc[k][o] for o < og, k < K (acc rows ogp floats apart). */
export function addTransposed(dw: usize, acc: usize, O: i32, K: i32, ogp: i32): void {
  for (let o = 0; o < O; o++) {
    const dst = dw + (<usize>(o * K) << 2);
    for (let k = 0; k < K; k++) {
      const d = dst + (<usize>k << 2);
      store<f32>(d, load<f32>(d) + load<f32>(acc + (<usize>(k * ogp + o) << 2)));
    }
  }
}
