// Depthwise stride-1 convolution (one input and one output channel per group): f32x4 over output columns, one tap at a
// time; the GEMM tile would waste 3 of its 4 rows here.
import { zeroF32, moveF32 } from "./simd";
import { gN, gC, gH, gW, gKh, gKw, gPh, gPw, gDh, gDw, gOutH, gOutW } from "./convgeom";

// The padded single-channel image lives at the start of scratch: Hp×Wp floats plus slack (sized by
// directScratch, which covers this case). Borders and slack stay zero; the interior is refilled per plane.

function fillPlane(xp: usize, xc: usize, Wp: i32): void {
  for (let ih = 0; ih < gH; ih++)
    moveF32(xp + (<usize>((ih + gPh) * Wp + gPw) << 2), xc + (<usize>(ih * gW) << 2), gW, false);
}

/** out[n][c] = bias[c] + Σ_{i,j} w[c][i][j]·xp[oh + i·dh][ow + j·dw], eight columns at a time. */
export function depthwiseForward(out: usize, x: usize, wt: usize, bias: usize, scratch: usize): void {
  const Hp = gH + 2 * gPh, Wp = gW + 2 * gPw, kk = gKh * gKw;
  const xp = scratch;
  zeroF32(xp, Hp * Wp + (gKw - 1) * gDw + 8);
  const W8 = gOutW & ~7;
  for (let s = 0; s < gN; s++) {
    for (let c = 0; c < gC; c++) {
      fillPlane(xp, x + (<usize>((s * gC + c) * gH * gW) << 2), Wp);
      const wc = wt + (<usize>(c * kk) << 2);
      const b: f32 = bias == 0 ? 0 : load<f32>(bias + (<usize>c << 2));
      const yc = out + (<usize>((s * gC + c) * gOutH * gOutW) << 2);
      for (let oh = 0; oh < gOutH; oh++) {
        const yrow = yc + (<usize>(oh * gOutW) << 2);
        const xrow = xp + (<usize>(oh * Wp) << 2);
        for (let ow = 0; ow < W8; ow += 8) {
          let a0 = f32x4.splat(b), a1 = a0;
          for (let i = 0; i < gKh; i++) {
            const r = xrow + (<usize>(i * gDh * Wp + ow) << 2);
            for (let j = 0; j < gKw; j++) {
              const wv = v128.load32_splat(wc + (<usize>(i * gKw + j) << 2));
              const p = r + (<usize>(j * gDw) << 2);
              a0 = f32x4.add(a0, f32x4.mul(wv, v128.load(p)));
              a1 = f32x4.add(a1, f32x4.mul(wv, v128.load(p, 16)));
            }
          }
          v128.store(yrow + (<usize>ow << 2), a0);
          v128.store(yrow + (<usize>ow << 2), a1, 16);
        }
        for (let ow = W8; ow < gOutW; ow++) {
          let a: f32 = b;
          for (let i = 0; i < gKh; i++)
            for (let j = 0; j < gKw; j++)
              a += load<f32>(wc + (<usize>(i * gKw + j) << 2)) *
                load<f32>(xrow + (<usize>(i * gDh * Wp + ow + j * gDw) << 2));
          store<f32>(yrow + (<usize>ow << 2), a);
        }
      }
    }
  }
}

/** dw[c][i][j] += Σ_{n,oh,ow} dy[n][c][oh][ow]·xp[oh + i·dh][ow + j·dw]: one f32x4 dot product per tap and plane. */
export function depthwiseBackwardWeight(dwt: usize, dy: usize, x: usize, scratch: usize): void {
  const Hp = gH + 2 * gPh, Wp = gW + 2 * gPw, kk = gKh * gKw;
  const xp = scratch;
  zeroF32(xp, Hp * Wp + (gKw - 1) * gDw + 8);
  const W4 = gOutW & ~3;
  for (let c = 0; c < gC; c++) {
    for (let s = 0; s < gN; s++) {
      fillPlane(xp, x + (<usize>((s * gC + c) * gH * gW) << 2), Wp);
      const yc = dy + (<usize>((s * gC + c) * gOutH * gOutW) << 2);
      for (let i = 0; i < gKh; i++) {
        for (let j = 0; j < gKw; j++) {
          let acc = f32x4.splat(0);
          let tail: f32 = 0;
          for (let oh = 0; oh < gOutH; oh++) {
            const yrow = yc + (<usize>(oh * gOutW) << 2);
            const xrow = xp + (<usize>((oh + i * gDh) * Wp + j * gDw) << 2);
            for (let ow = 0; ow < W4; ow += 4) {
              const o = <usize>ow << 2;
              acc = f32x4.add(acc, f32x4.mul(v128.load(yrow + o), v128.load(xrow + o)));
            }
            for (let ow = W4; ow < gOutW; ow++)
              tail += load<f32>(yrow + (<usize>ow << 2)) * load<f32>(xrow + (<usize>ow << 2));
          }
          const d = dwt + (<usize>(c * kk + i * gKw + j) << 2);
          const sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) +
            f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3) + tail;
          store<f32>(d, load<f32>(d) + sum);
        }
      }
    }
  }
}
