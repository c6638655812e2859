// The stride-1 convolution path: no im2col. The input is copied once into a zero-padded image, and every
// reduction row (c, i, j) is that image shifted by c·Hp·Wp + i·dh·Wp + j·dw, read by the micro-kernel
// through an offset table (forward) or as shifted row pointers (weight gradient).
import { block4x8, blockStrided, kernel4x8 } from "./gemm";
import { zeroF32, moveF32 } from "./simd";
import { addTransposed } from "./im2col";
import {
  gN, gC, gH, gW, gO, gKh, gKw, gPh, gPw, gDh, gDw, gG, gOutH, gOutW, cg, og, kdim, plane, ogPad,
} from "./convgeom";

/** Reduction rows per forward block and positions per weight-gradient block (L1-sized panels). */
const KB: i32 = 256;
const QB: i32 = 256;

// @ts-ignore: decorator
@inline function padH(): i32 { return gH + 2 * gPh; }
// @ts-ignore: decorator
@inline function padW(): i32 { return gW + 2 * gPw; }
/** Floats of the padded image of one channel group, plus zeroed slack the shifted reads may run into. */
// @ts-ignore: decorator
@inline function paddedLen(): i32 { return cg() * padH() * padW() + (gKw - 1) * gDw + 8; }

/** Scratch bytes: 0 forward, 2 weight gradient (the input gradient runs the forward on swapped geometry). */
export function directScratch(which: i32): i32 {
  const K = kdim();
  if (which == 0) return (paddedLen() + K) * 4;
  return (paddedLen() + K + gOutH * padW() * ogPad() + K * ogPad()) * 4;
}

/** tab[k] = byte offset of reduction row k = (c, i, j) in the padded image. */
function offsets(tab: usize): void {
  const Hp = padH(), Wp = padW();
  let k: usize = 0;
  for (let c = 0; c < cg(); c++)
    for (let i = 0; i < gKh; i++)
      for (let j = 0; j < gKw; j++) {
        store<i32>(tab + (k << 2), (c * Hp * Wp + i * gDh * Wp + j * gDw) << 2);
        k++;
      }
}

/** Copy channel group xg (cg planes of h×w) into the interior of the padded image (borders stay zero). */
function fillPadded(xp: usize, xg: usize): void {
  const Hp = padH(), Wp = padW();
  for (let c = 0; c < cg(); c++) {
    for (let ih = 0; ih < gH; ih++) {
      moveF32(xp + (<usize>((c * Hp + ih + gPh) * Wp + gPw) << 2), xg + (<usize>((c * gH + ih) * gW) << 2), gW, false);
    }
  }
}

/**
 * out[n][o][oh][ow0..ow0+8) = bias + Σ_k W[o][k]·xp[tab[k] + oh·Wp + ow0 …]: 8 positions of one output row per panel.
 */
export function directForward(out: usize, x: usize, wt: usize, bias: usize, scratch: usize): void {
  const C = cg(), O = og(), K = kdim(), P = plane(), Wp = padW();
  const xp = scratch;
  const tab = xp + (<usize>paddedLen() << 2);
  const kb = <usize>K << 2, ldo = <usize>P << 2;
  zeroF32(xp, paddedLen());
  offsets(tab);
  for (let s = 0; s < gN; s++) {
    for (let g = 0; g < gG; g++) {
      fillPadded(xp, x + (<usize>((s * gC + g * C) * gH * gW) << 2));
      const yg = out + (<usize>((s * gO + g * O) * P) << 2);
      const wg = wt + (<usize>(g * O * K) << 2);
      for (let oh = 0; oh < gOutH; oh++) {
        for (let ow0 = 0; ow0 < gOutW; ow0 += 8) {
          const nr = min(8, gOutW - ow0);
          const base = xp + (<usize>(oh * Wp + ow0) << 2);
          const yp = yg + (<usize>(oh * gOutW + ow0) << 2);
          // Reduction blocks of KB rows keep the B panel (KB lines of the padded image) in L1 across the
          // og/4 row blocks; the first block starts from the bias, later ones accumulate (beta = 1).
          for (let k0 = 0; k0 < K; k0 += KB) {
            const kc = min(KB, K - k0);
            const first = k0 == 0;
            for (let i = 0; i < O; i += 4) {
              const bi: usize = bias == 0 || !first ? 0 : bias + (<usize>(g * O + i) << 2);
              const a = wg + <usize>i * kb + (<usize>k0 << 2);
              if (nr == 8 && i + 4 <= O) {
                // full tile: the micro-kernel inlined here (no call, no edge logic)
                const b0: f32 = bi == 0 ? 0 : load<f32>(bi), b1: f32 = bi == 0 ? 0 : load<f32>(bi, 4);
                const b2: f32 = bi == 0 ? 0 : load<f32>(bi, 8), b3: f32 = bi == 0 ? 0 : load<f32>(bi, 12);
                kernel4x8(kc, a, a + kb, a + 2 * kb, a + 3 * kb, 4, base, 0, tab + (<usize>k0 << 2), true,
                  yp + <usize>i * ldo, ldo, b0, b1, b2, b3, 1, first ? 0 : 1);
              } else {
                blockStrided(kc, min(4, O - i), nr, a, kb, 4, base, 0,
                  tab + (<usize>k0 << 2), yp + <usize>i * ldo, ldo, bi, 1, first ? 0 : 1);
              }
            }
          }
        }
      }
    }
  }
}

/**
 * dw[o][k] += Σ_{q'} xp[tab[k] + q']·dyp[o][q'] over padded-width positions q' = oh·Wp + ow, where dyp is dy
 * with zero columns for ow ≥ outW (so the wrapped-around reads contribute nothing): dWᵀ[K × og] accumulated
 * in float32 scratch, four reduction rows (shifted image pointers) by 8 output channels per micro-kernel call.
 */
export function directBackwardWeight(dwt: usize, dy: usize, x: usize, scratch: usize): void {
  const C = cg(), O = og(), K = kdim(), P = plane(), Wp = padW(), ogp = ogPad();
  const Q = gOutH * Wp;
  const xp = scratch;
  const tab = xp + (<usize>paddedLen() << 2);
  const dyT = tab + (<usize>K << 2);
  const acc = dyT + (<usize>(Q * ogp) << 2);
  const ldt = <usize>ogp << 2;
  zeroF32(xp, paddedLen());
  zeroF32(dyT, Q * ogp);
  offsets(tab);
  for (let g = 0; g < gG; g++) {
    zeroF32(acc, K * ogp);
    for (let s = 0; s < gN; s++) {
      fillPadded(xp, x + (<usize>((s * gC + g * C) * gH * gW) << 2));
      const yg = dy + (<usize>((s * gO + g * O) * P) << 2);
      transposeRows(dyT, yg, O, Wp, ogp);
      for (let q0 = 0; q0 < Q; q0 += QB) {
        const qc = min(QB, Q - q0);
        const qoff = <usize>q0 << 2;
        for (let j = 0; j < O; j += 8) {
          const nr = min(8, O - j);
          const b = dyT + <usize>q0 * ldt + (<usize>j << 2);
          for (let i = 0; i < K; i += 4) {
            const mr = min(4, K - i);
            const a0 = xp + qoff + <usize>load<i32>(tab + (<usize>i << 2));
            const a1 = xp + qoff + <usize>load<i32>(tab + (<usize>(i + min(1, mr - 1)) << 2));
            const a2 = xp + qoff + <usize>load<i32>(tab + (<usize>(i + min(2, mr - 1)) << 2));
            const a3 = xp + qoff + <usize>load<i32>(tab + (<usize>(i + min(3, mr - 1)) << 2));
            const ct = acc + <usize>i * ldt + (<usize>j << 2);
            if (mr == 4 && nr == 8) kernel4x8(qc, a0, a1, a2, a3, 4, b, ldt, 0, false, ct, ldt, 0, 0, 0, 0, 1, 1);
            else block4x8(qc, mr, nr, a0, a1, a2, a3, 4, b, ldt, 0, ct, ldt, 0, 1, 1);
          }
        }
      }
    }
    addTransposed(dwt + (<usize>(g * O * K) << 2), acc, O, K, ogp);
  }
}

/**
 * dyT[(oh·Wp + ow)·ogp + o] = dy[o][oh][ow]: 4×4 blocks transposed in registers (two shuffle stages),
 * scalar for the leftover channels and columns.
 */
function transposeRows(dyT: usize, yg: usize, O: i32, Wp: i32, ogp: i32): void {
  const P = gOutH * gOutW, ldt = <usize>ogp << 2, ldy = <usize>P << 2;
  const O4 = O & ~3, W4 = gOutW & ~3;
  for (let oh = 0; oh < gOutH; oh++) {
    const drow = dyT + <usize>(oh * Wp) * ldt;
    const srow = yg + (<usize>(oh * gOutW) << 2);
    for (let o = 0; o < O4; o += 4) {
      const s0 = srow + <usize>o * ldy;
      for (let ow = 0; ow < W4; ow += 4) {
        const src = s0 + (<usize>ow << 2);
        const r0 = v128.load(src), r1 = v128.load(src + ldy);
        const r2 = v128.load(src + 2 * ldy), r3 = v128.load(src + 3 * ldy);
        const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
        const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
        const dst = drow + <usize>ow * ldt + (<usize>o << 2);
        v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
        v128.store(dst + ldt, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
        v128.store(dst + 2 * ldt, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
        v128.store(dst + 3 * ldt, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
      }
      for (let ow = W4; ow < gOutW; ow++) {
        for (let r = 0; r < 4; r++) {
          store<f32>(drow + <usize>ow * ldt + (<usize>(o + r) << 2), load<f32>(s0 + <usize>r * ldy + (<usize>ow << 2)));
        }
      }
    }
    for (let o = O4; o < O; o++) {
      for (let ow = 0; ow < gOutW; ow++) {
        store<f32>(drow + <usize>ow * ldt + (<usize>o << 2), load<f32>(srow + <usize>o * ldy + (<usize>ow << 2)));
      }
    }
  }
}
