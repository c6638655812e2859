// 2-D convolution entry points (AssemblyScript, SIMD): stride 1 runs the direct padded-image path, other strides
// im2col; both on the 4×8 GEMM micro-kernel.
import {
  setGeometry, gN, gC, gH, gW, gO, gKh, gKw, gSh, gSw, gPh, gPw, gDh, gDw, gG, gOutH, gOutW, cg, og, plane,
} from "./convgeom";
import { im2colScratch, im2colForward, im2colBackwardInput, im2colBackwardWeight } from "./im2col";
import { directScratch, directForward, directBackwardWeight } from "./direct";
import { depthwiseForward, depthwiseBackwardWeight } from "./depthwise";
import { sumF32 } from "./simd";

// Protocol: convGeometry(...) once, then conv2dScratchBytes(which) to size the scratch block (the caller
// keeps one heap block and grows it), then the kernel. Scratch is never allocated here.

/** Set the geometry for the following calls (NCHW x, OIHW weights, PyTorch semantics). */
export function convGeometry(
  n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  dh: i32, dw: i32, groups: i32, outH: i32, outW: i32,
): void {
  setGeometry(n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups, outH, outW);
}

let im2colOnly = false;
/** Benchmarks only: 1 forces the im2col path for every stride (to compare it with the direct path). */
export function convForceIm2col(on: i32): void {
  im2colOnly = on != 0;
}

// @ts-ignore: decorator
@inline function stride1(): bool { return gSh == 1 && gSw == 1 && !im2colOnly; }

/**
 * The input gradient of a stride-1 conv is a stride-1 conv of dy with flipped, transposed weights
 * when pad ≤ dil·(k − 1).
 */
// @ts-ignore: decorator
@inline function transposable(): bool { return stride1() && gPh <= gDh * (gKh - 1) && gPw <= gDw * (gKw - 1); }

let sN: i32, sC: i32, sH: i32, sW: i32, sO: i32, sPh: i32, sPw: i32, sOutH: i32, sOutW: i32;

/** Switch to the transposed convolution's geometry (dy → dx): channels swap, sizes swap, pad' = dil·(k − 1) − pad. */
function swapToTransposed(): void {
  sN = gN; sC = gC; sH = gH; sW = gW; sO = gO; sPh = gPh; sPw = gPw; sOutH = gOutH; sOutW = gOutW;
  setGeometry(sN, sO, sOutH, sOutW, sC, gKh, gKw, 1, 1,
    gDh * (gKh - 1) - sPh, gDw * (gKw - 1) - sPw, gDh, gDw, gG, sH, sW);
}
function restore(): void {
  setGeometry(sN, sC, sH, sW, sO, gKh, gKw, 1, 1, sPh, sPw, gDh, gDw, gG, sOutH, sOutW);
}

/** Bytes of scratch the next call needs: which = 0 forward, 1 input gradient, 2 weight gradient. */
export function conv2dScratchBytes(which: i32): i32 {
  if (which == 1) {
    if (!transposable()) return im2colScratch(1);
    const weights = gC * og() * gKh * gKw * 4;
    swapToTransposed();
    const bytes = weights + directScratch(0);
    restore();
    return bytes;
  }
  return stride1() ? directScratch(which) : im2colScratch(which);
}

/** One input and one output channel per group: the depthwise loops beat the 4-row GEMM tile. */
// @ts-ignore: decorator
@inline function depthwise(): bool { return cg() == 1 && og() == 1; }

export function conv2dForward(out: usize, x: usize, wt: usize, bias: usize, scratch: usize): void {
  if (stride1() && depthwise()) depthwiseForward(out, x, wt, bias, scratch);
  else if (stride1()) directForward(out, x, wt, bias, scratch);
  else im2colForward(out, x, wt, bias, scratch);
}

/** dx = convᵀ(dy, w), overwriting dx. */
export function conv2dBackwardInput(dx: usize, dy: usize, wt: usize, scratch: usize): void {
  if (!transposable()) {
    im2colBackwardInput(dx, dy, wt, scratch);
    return;
  }
  // W'[g·cg + c][o][i][j] = W[g·og + o][c][kh − 1 − i][kw − 1 − j]
  const C = cg(), O = og(), kk = gKh * gKw;
  for (let g = 0; g < gG; g++)
    for (let o = 0; o < O; o++)
      for (let c = 0; c < C; c++)
        for (let t = 0; t < kk; t++) {
          const src = wt + (<usize>(((g * O + o) * C + c) * kk + t) << 2);
          store<f32>(scratch + (<usize>(((g * C + c) * O + o) * kk + (kk - 1 - t)) << 2), load<f32>(src));
        }
  const weights = <usize>(gC * O * kk) << 2;
  swapToTransposed();
  if (depthwise()) depthwiseForward(dx, dy, scratch, 0, scratch + weights);
  else directForward(dx, dy, scratch, 0, scratch + weights);
  restore();
}

/** dw += Σ dy·x (accumulates); dbias[o] += Σ dy[·, o, ·, ·] in float64 when dbias ≠ 0. */
export function conv2dBackwardWeight(dwt: usize, dbias: usize, dy: usize, x: usize, scratch: usize): void {
  if (stride1() && depthwise()) depthwiseBackwardWeight(dwt, dy, x, scratch);
  else if (stride1()) directBackwardWeight(dwt, dy, x, scratch);
  else im2colBackwardWeight(dwt, dy, x, scratch);
  if (dbias == 0) return;
  const P = plane();
  for (let o = 0; o < gO; o++) {
    let total: f64 = 0;
    for (let s = 0; s < gN; s++) total += sumF32(dy + (<usize>((s * gO + o) * P) << 2), P);
    const d = dbias + (<usize>o << 2);
    store<f32>(d, <f32>(<f64>load<f32>(d) + total));
  }
}

/** Σ x in float64 (the `sum` kernel): simd.ts's exact widening loop, exported under its own name. */
export { sumF32 };
