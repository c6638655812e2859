// Differentiable max/average pooling (NCHW) over the pool kernels, and adaptive average pooling.
import { ShapeError, StateError, UsageError } from '../../errors.js';
import { kernels, type PoolGeom } from '../../kernels/index.js';
import { traceOp } from '../../autograd/trace.js';
import { Node, needsGrad, record } from '../../autograd/node.js';
import { fmtShape } from '../../tensor/shape.js';
import { type Tensor, checkTensor } from '../../tensor/tensor.js';
import { allocTensor } from '../../tensor/internal.js';
import { expectRank, pair, type Pair } from './args.js';

/** Options of maxPool2d and avgPool2d. */
export interface Pool2dOptions {
  /** default: kernelSize */
  stride?: Pair;
  padding?: Pair;
}

function poolGeom(op: string, x: Tensor, kernelSize: Pair, opts: Pool2dOptions): PoolGeom {
  checkTensor(op, 'input', x);
  expectRank(op, x, 4, '[N, C, H, W]');
  const [kh, kw] = pair(kernelSize, `${op}: kernelSize`, 1);
  const [strideH, strideW] = pair(opts.stride ?? [kh, kw], `${op}: stride`, 1);
  const [padH, padW] = pair(opts.padding ?? 0, `${op}: padding`, 0);
  if (2 * padH > kh || 2 * padW > kw)
    throw new UsageError(`${op}: padding ${padH}×${padW} must be at most half the kernel ${kh}×${kw}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const outH = Math.floor((h + 2 * padH - kh) / strideH) + 1;
  const outW = Math.floor((w + 2 * padW - kw) / strideW) + 1;
  if (outH < 1 || outW < 1)
    throw new ShapeError(
      `${op}: input ${fmtShape(x.shape)} is too small for kernel ${kh}×${kw} with padding ${padH}×${padW}`,
    );
  return { n, c, h, w, kh, kw, strideH, strideW, padH, padW, outH, outW };
}

class MaxPool2dBackward extends Node {
  readonly name = 'MaxPool2dBackward';
  // argmax is an int32 view of `store`, a heap tensor: freed with the graph, or by GC if never backwarded
  constructor(
    private store: Tensor | null,
    private readonly argmax: Int32Array,
    private readonly g: PoolGeom,
  ) {
    super();
  }
  backward(dy: Tensor): Tensor[] {
    const g = this.g;
    const dx = allocTensor([g.n, g.c, g.h, g.w]);
    if (this.store === null || this.store.isDisposed)
      throw new StateError('MaxPool2dBackward: its saved argmax was freed');
    kernels().maxPool2dBackward(dx.data, dy.data, this.argmax, g);
    return [dx];
  }
  override release(): void {
    this.store?.dispose();
    this.store = null;
    super.release();
  }
}

/** torch.nn.functional.max_pool2d (ceil_mode=false, dilation 1). Padding counts as −∞. */
export function maxPool2d(x: Tensor, kernelSize: Pair, opts: Pool2dOptions = {}): Tensor {
  const g = poolGeom('maxPool2d', x, kernelSize, opts);
  const out = allocTensor([g.n, g.c, g.outH, g.outW]);
  // argmax lives in the heap as int32 so the wasm kernel writes it in place
  const store = allocTensor([out.size]);
  const argmax = new Int32Array(store.data.buffer, store.data.byteOffset, out.size);
  kernels().maxPool2dForward(out.data, argmax, x.data, g);
  traceOp(out, 'maxPool2d', [x], g);
  if (!needsGrad(x)) {
    store.dispose();
    return out;
  }
  return record(out, new MaxPool2dBackward(store, argmax, g), x);
}

class AvgPool2dBackward extends Node {
  readonly name = 'AvgPool2dBackward';
  constructor(private readonly g: PoolGeom) {
    super();
  }
  backward(dy: Tensor): Tensor[] {
    const g = this.g;
    const dx = allocTensor([g.n, g.c, g.h, g.w]);
    kernels().avgPool2dBackward(dx.data, dy.data, g);
    return [dx];
  }
}

/** torch.nn.functional.avg_pool2d (count_include_pad=true, ceil_mode=false). */
export function avgPool2d(x: Tensor, kernelSize: Pair, opts: Pool2dOptions = {}): Tensor {
  const g = poolGeom('avgPool2d', x, kernelSize, opts);
  const out = allocTensor([g.n, g.c, g.outH, g.outW]);
  kernels().avgPool2dForward(out.data, x.data, g);
  traceOp(out, 'avgPool2d', [x], g);
  return needsGrad(x) ? record(out, new AvgPool2dBackward(g), x) : out;
}

// Adaptive pooling bins (PyTorch): bin i covers [floor(i·H/oh), ceil((i+1)·H/oh)).
function bin(i: number, inSize: number, outSize: number): [number, number] {
  return [Math.floor((i * inSize) / outSize), Math.ceil(((i + 1) * inSize) / outSize)];
}

/** Shared loop of adaptive average pooling: forward (gather) and backward (scatter). */
function adaptiveLoop(
  xs: Float32Array,
  ys: Float32Array,
  planes: number,
  h: number,
  w: number,
  oh: number,
  ow: number,
  back: boolean,
): void {
  if (oh === 1 && ow === 1) {
    // global average pooling: one contiguous plane per output
    const hw = h * w;
    const inv = 1 / hw;
    const k = kernels();
    for (let p = 0, xo = 0; p < planes; p++, xo += hw) {
      if (back) xs.fill(ys[p]! * inv, xo, xo + hw);
      else ys[p] = k.sum(xs, xo, xo + hw) * inv; // SIMD, float64 accumulation
    }
    return;
  }
  for (let p = 0; p < planes; p++) {
    const xo = p * h * w;
    const yo = p * oh * ow;
    for (let i = 0; i < oh; i++) {
      const [h0, h1] = bin(i, h, oh);
      for (let j = 0; j < ow; j++) {
        const [w0, w1] = bin(j, w, ow);
        const inv = 1 / ((h1 - h0) * (w1 - w0));
        if (back) {
          const g = ys[yo + i * ow + j]! * inv;
          for (let a = h0; a < h1; a++) for (let b = w0; b < w1; b++) xs[xo + a * w + b]! += g;
        } else {
          let s = 0;
          for (let a = h0; a < h1; a++) for (let b = w0; b < w1; b++) s += xs[xo + a * w + b]!;
          ys[yo + i * ow + j] = s * inv;
        }
      }
    }
  }
}

class AdaptiveAvgPool2dBackward extends Node {
  readonly name = 'AdaptiveAvgPool2dBackward';
  constructor(private readonly inShape: readonly number[]) {
    super();
  }
  backward(dy: Tensor): Tensor[] {
    const [n, c, h, w] = this.inShape as [number, number, number, number];
    const dx = allocTensor(this.inShape);
    if (dy.shape[2] !== 1 || dy.shape[3] !== 1) dx.data.fill(0); // the general case accumulates
    adaptiveLoop(dx.data, dy.data, n * c, h, w, dy.shape[2]!, dy.shape[3]!, true);
    return [dx];
  }
}

/** torch.nn.functional.adaptive_avg_pool2d; outputSize 1 is global average pooling. */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  checkTensor('adaptiveAvgPool2d', 'input', x);
  expectRank('adaptiveAvgPool2d', x, 4, '[N, C, H, W]');
  const [oh, ow] = pair(outputSize, 'adaptiveAvgPool2d: outputSize', 1);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (h === 0 || w === 0)
    throw new ShapeError(`adaptiveAvgPool2d: input ${fmtShape(x.shape)} has an empty spatial size`);
  const out = allocTensor([n, c, oh, ow]);
  adaptiveLoop(x.data, out.data, n * c, h, w, oh, ow, false);
  traceOp(out, 'adaptiveAvgPool2d', [x], { outH: oh, outW: ow });
  return needsGrad(x) ? record(out, new AdaptiveAvgPool2dBackward(x.shape), x) : out;
}
