// Reference (plain TypeScript) GEMM, convolution, pooling and elementwise kernels: simple loops, float64 accumulation,
// clarity first.
import type { ConvGeom, NNKernels, PoolGeom } from '../types.js';

/** op(A)[i][p]: A is M×K row-major, or K×M when transposed. */
function at(a: Float32Array, trans: boolean, rows: number, cols: number, i: number, p: number): number {
  return trans ? a[p * rows + i]! : a[i * cols + p]!;
}

/**
 * BLAS semantics: beta = 0 overwrites C (NaN/Inf already in C do not leak through 0·C); alpha = 0 reads neither A nor
 * B.
 */
function gemm(
  c: Float32Array,
  a: Float32Array,
  b: Float32Array,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  alpha: number,
  beta: number,
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      if (alpha !== 0) for (let p = 0; p < k; p++) acc += at(a, transA, m, k, i, p) * at(b, transB, k, n, p, j);
      const prev = beta === 0 ? 0 : beta * c[i * n + j]!;
      c[i * n + j] = alpha * acc + prev;
    }
  }
}

/**
 * Visit every (input, weight, output) index triple of a convolution: output (n, o, oh, ow) reads input
 * row oh·stride − pad + i·dilation (same for columns; outside [0, size) is zero padding) of channel
 * group(o)·C/g + ci through weight (o, ci, i, j). All three kernels are this one sum, read three ways.
 */
function forEachTap(g: ConvGeom, fn: (xi: number, wi: number, yi: number) => void): void {
  const cg = g.cIn / g.groups;
  const og = g.cOut / g.groups;
  for (let n = 0; n < g.n; n++) {
    for (let o = 0; o < g.cOut; o++) {
      const grp = Math.floor(o / og);
      for (let oh = 0; oh < g.outH; oh++) {
        for (let ow = 0; ow < g.outW; ow++) {
          const yi = ((n * g.cOut + o) * g.outH + oh) * g.outW + ow;
          for (let ci = 0; ci < cg; ci++) {
            const c = grp * cg + ci;
            for (let i = 0; i < g.kh; i++) {
              const ih = oh * g.strideH - g.padH + i * g.dilationH;
              if (ih < 0 || ih >= g.h) continue;
              for (let j = 0; j < g.kw; j++) {
                const iw = ow * g.strideW - g.padW + j * g.dilationW;
                if (iw < 0 || iw >= g.w) continue;
                fn(((n * g.cIn + c) * g.h + ih) * g.w + iw, ((o * cg + ci) * g.kh + i) * g.kw + j, yi);
              }
            }
          }
        }
      }
    }
  }
}

/** out[n,o,oh,ow] = bias[o] + Σ x·w over the taps; float64 accumulation. */
function conv2dForward(
  out: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  g: ConvGeom,
): void {
  const acc = new Float64Array(g.n * g.cOut * g.outH * g.outW);
  forEachTap(g, (xi, wi, yi) => {
    acc[yi]! += x[xi]! * weight[wi]!;
  });
  const plane = g.outH * g.outW;
  for (let i = 0; i < acc.length; i++) out[i] = acc[i]! + (bias === null ? 0 : bias[Math.floor(i / plane) % g.cOut]!);
}

/** dx[n,c,ih,iw] = Σ over the taps that read (ih, iw) of dy·w. Overwrites dx. */
function conv2dBackwardInput(dx: Float32Array, dy: Float32Array, weight: Float32Array, g: ConvGeom): void {
  const acc = new Float64Array(g.n * g.cIn * g.h * g.w);
  forEachTap(g, (xi, wi, yi) => {
    acc[xi]! += dy[yi]! * weight[wi]!;
  });
  for (let i = 0; i < acc.length; i++) dx[i] = acc[i]!;
}

/** dw[o,ci,i,j] += Σ_{n,oh,ow} dy·x over the taps; dbias[o] += Σ dy[n,o,·,·]. */
function conv2dBackwardWeight(
  dw: Float32Array,
  dbias: Float32Array | null,
  dy: Float32Array,
  x: Float32Array,
  g: ConvGeom,
): void {
  const acc = new Float64Array(g.cOut * (g.cIn / g.groups) * g.kh * g.kw);
  forEachTap(g, (xi, wi, yi) => {
    acc[wi]! += dy[yi]! * x[xi]!;
  });
  for (let i = 0; i < acc.length; i++) dw[i]! += acc[i]!;
  if (dbias === null) return;
  const plane = g.outH * g.outW;
  const db = new Float64Array(g.cOut);
  for (let i = 0; i < g.n * g.cOut * plane; i++) db[Math.floor(i / plane) % g.cOut]! += dy[i]!;
  for (let o = 0; o < g.cOut; o++) dbias[o]! += db[o]!;
}

/**
 * PyTorch's max pool: padding is −∞; the first maximum wins (strict >); NaN wins and propagates.
 * A window that holds no input (possible only with ceil-mode sizes) yields −∞ and the index of its clamped start.
 */
function maxPool2dForward(out: Float32Array, argmax: Int32Array, x: Float32Array, g: PoolGeom): void {
  const planes = g.n * g.c;
  for (let p = 0; p < planes; p++) {
    const xo = p * g.h * g.w;
    for (let oh = 0; oh < g.outH; oh++) {
      const h0 = oh * g.strideH - g.padH;
      const hs = Math.max(h0, 0);
      const he = Math.min(h0 + g.kh, g.h);
      for (let ow = 0; ow < g.outW; ow++) {
        const w0 = ow * g.strideW - g.padW;
        const ws = Math.max(w0, 0);
        const we = Math.min(w0 + g.kw, g.w);
        let best = -Infinity;
        let idx = hs * g.w + ws;
        for (let ih = hs; ih < he; ih++) {
          for (let iw = ws; iw < we; iw++) {
            const v = x[xo + ih * g.w + iw]!;
            if (v > best || Number.isNaN(v)) {
              best = v;
              idx = ih * g.w + iw;
              if (Number.isNaN(v)) break;
            }
          }
          if (Number.isNaN(best)) break;
        }
        const o = (p * g.outH + oh) * g.outW + ow;
        out[o] = best;
        argmax[o] = idx;
      }
    }
  }
}

function maxPool2dBackward(dx: Float32Array, dy: Float32Array, argmax: Int32Array, g: PoolGeom): void {
  const acc = new Float64Array(g.n * g.c * g.h * g.w);
  const planes = g.n * g.c;
  const outPlane = g.outH * g.outW;
  for (let p = 0; p < planes; p++) {
    for (let q = 0; q < outPlane; q++) acc[p * g.h * g.w + argmax[p * outPlane + q]!]! += dy[p * outPlane + q]!;
  }
  for (let i = 0; i < acc.length; i++) dx[i] = acc[i]!;
}

/**
 * PyTorch's count_include_pad=true divisor: the window clipped to the padded input
 * (min(start + k, size + pad) − start per axis), before clipping to the real input.
 */
function avgWindow(o: number, stride: number, pad: number, k: number, size: number): [number, number, number] {
  const s = o * stride - pad;
  const e = Math.min(s + k, size + pad);
  return [Math.max(s, 0), Math.min(e, size), e - s];
}

function avgPool2dForward(out: Float32Array, x: Float32Array, g: PoolGeom): void {
  const planes = g.n * g.c;
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < g.outH; oh++) {
      const [hs, he, hn] = avgWindow(oh, g.strideH, g.padH, g.kh, g.h);
      for (let ow = 0; ow < g.outW; ow++) {
        const [ws, we, wn] = avgWindow(ow, g.strideW, g.padW, g.kw, g.w);
        let acc = 0;
        for (let ih = hs; ih < he; ih++) for (let iw = ws; iw < we; iw++) acc += x[(p * g.h + ih) * g.w + iw]!;
        out[(p * g.outH + oh) * g.outW + ow] = acc / (hn * wn);
      }
    }
  }
}

function avgPool2dBackward(dx: Float32Array, dy: Float32Array, g: PoolGeom): void {
  const acc = new Float64Array(g.n * g.c * g.h * g.w);
  const planes = g.n * g.c;
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < g.outH; oh++) {
      const [hs, he, hn] = avgWindow(oh, g.strideH, g.padH, g.kh, g.h);
      for (let ow = 0; ow < g.outW; ow++) {
        const [ws, we, wn] = avgWindow(ow, g.strideW, g.padW, g.kw, g.w);
        const d = dy[(p * g.outH + oh) * g.outW + ow]! / (hn * wn);
        for (let ih = hs; ih < he; ih++) for (let iw = ws; iw < we; iw++) acc[(p * g.h + ih) * g.w + iw]! += d;
      }
    }
  }
  for (let i = 0; i < acc.length; i++) dx[i] = acc[i]!;
}

/**
 * align_corners=false source coordinate (PyTorch): src = (dst + 0.5)·(in/out) − 0.5, clamped at 0;
 * taps i0 = floor(src), i1 = min(i0 + 1, in − 1), weights 1 − λ and λ = src − i0.
 * The scale is computed in float32 like PyTorch's CPU kernel.
 */
export function bilinearTaps(dst: number, inSize: number, outSize: number): [number, number, number] {
  const scale = Math.fround(inSize / outSize);
  const s = Math.max(Math.fround(Math.fround(scale * Math.fround(dst + 0.5)) - 0.5), 0);
  const i0 = Math.floor(s);
  const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
  return [i0, i1, Math.fround(s - i0)];
}

function upsampleBilinearForward(
  out: Float32Array,
  x: Float32Array,
  n: number,
  c: number,
  h: number,
  w: number,
  outH: number,
  outW: number,
): void {
  for (let p = 0; p < n * c; p++) {
    for (let oh = 0; oh < outH; oh++) {
      const [h0, h1, lh] = bilinearTaps(oh, h, outH);
      for (let ow = 0; ow < outW; ow++) {
        const [w0, w1, lw] = bilinearTaps(ow, w, outW);
        const r0 = (p * h + h0) * w;
        const r1 = (p * h + h1) * w;
        const top = (1 - lw) * x[r0 + w0]! + lw * x[r0 + w1]!;
        const bot = (1 - lw) * x[r1 + w0]! + lw * x[r1 + w1]!;
        out[(p * outH + oh) * outW + ow] = (1 - lh) * top + lh * bot;
      }
    }
  }
}

function upsampleBilinearBackward(
  dx: Float32Array,
  dy: Float32Array,
  n: number,
  c: number,
  h: number,
  w: number,
  outH: number,
  outW: number,
): void {
  const acc = new Float64Array(n * c * h * w);
  for (let p = 0; p < n * c; p++) {
    for (let oh = 0; oh < outH; oh++) {
      const [h0, h1, lh] = bilinearTaps(oh, h, outH);
      for (let ow = 0; ow < outW; ow++) {
        const [w0, w1, lw] = bilinearTaps(ow, w, outW);
        const d = dy[(p * outH + oh) * outW + ow]!;
        const r0 = (p * h + h0) * w;
        const r1 = (p * h + h1) * w;
        acc[r0 + w0]! += (1 - lh) * (1 - lw) * d;
        acc[r0 + w1]! += (1 - lh) * lw * d;
        acc[r1 + w0]! += lh * (1 - lw) * d;
        acc[r1 + w1]! += lh * lw * d;
      }
    }
  }
  for (let i = 0; i < acc.length; i++) dx[i] = acc[i]!;
}

export const nnRef: NNKernels = {
  gemm,
  conv2dForward,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  maxPool2dForward,
  maxPool2dBackward,
  avgPool2dForward,
  avgPool2dBackward,
  upsampleBilinearForward,
  upsampleBilinearBackward,
  /** float64 throughout, one rounding to float32 per output */
  softmaxPlanes(p, mz, x, n, k, s) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < s; j++) {
        const base = i * k * s + j;
        let m = -Infinity;
        for (let c = 0; c < k; c++) m = Math.max(m, x[base + c * s]!);
        let z = 0;
        for (let c = 0; c < k; c++) z += Math.exp(x[base + c * s]! - m);
        for (let c = 0; c < k; c++) p[base + c * s] = Math.exp(x[base + c * s]! - m) / z;
        mz[i * s + j] = m;
        mz[(n + i) * s + j] = z;
      }
    }
  },
  softmaxPlanesBackward(dx, p, w, tgt, n, k, s) {
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < k; c++) {
        for (let j = 0; j < s; j++) {
          const t = tgt[i * s + j]!,
            o = (i * k + c) * s + j;
          dx[o] = t < 0 ? 0 : (p[o]! - (c === t ? 1 : 0)) * w[i * s + j]!;
        }
      }
    }
  },
  add(out, a, b) {
    for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
  },
  axpy(y, alpha, x) {
    for (let i = 0; i < y.length; i++) y[i]! += alpha * x[i]!;
  },
  scale(out, x, alpha) {
    for (let i = 0; i < out.length; i++) out[i] = x[i]! * alpha;
  },
  /** max(x, 0): NaN stays NaN (like torch.relu). */
  reluForward(out, x) {
    for (let i = 0; i < out.length; i++) out[i] = Math.max(x[i]!, 0);
  },
  reluBackward(dx, dy, y) {
    for (let i = 0; i < dx.length; i++) dx[i] = y[i]! > 0 ? dy[i]! : 0;
  },
  sum(x, start = 0, end = x.length) {
    let s = 0;
    for (let i = start; i < end; i++) s += x[i]!;
    return s;
  },
};
