// Cross-entropy over class logits (N, K) or per-pixel logits (N, K, d1, …) with an ignore index, as PyTorch.
import { ShapeError, UsageError, ValueError, describe } from '../../errors.js';
import { traceOp } from '../../autograd/trace.js';
import { Node, needsGrad, record } from '../../autograd/node.js';
import { fmtShape } from '../../tensor/shape.js';
import { Tensor, checkTensor } from '../../tensor/tensor.js';
import { allocTensor } from '../../tensor/internal.js';
import { allocF32, heapPointer, release } from '../../kernels/wasm/heap.js';
import { kernels } from '../../kernels/index.js';

/** Options of crossEntropy (torch.nn.functional.cross_entropy's, camelCased). */
export interface CrossEntropyOptions {
  /** target value whose positions contribute neither loss nor gradient (PyTorch default −100) */
  ignoreIndex?: number;
  /** 'mean' (over non-ignored positions; NaN when all are ignored, as PyTorch), 'sum', or 'none' */
  reduction?: 'mean' | 'sum' | 'none';
}

/** Class indices: a Tensor (float values that are integers), an Int32Array, or numbers. */
export type Target = Tensor | Int32Array | ArrayLike<number>;

class CrossEntropyBackward extends Node {
  readonly name = 'CrossEntropyBackward';
  constructor(
    private prob: Tensor | null, // softmax of the logits, the gradient is (p − onehot)·dy·scale
    private readonly tgt: Int32Array,
    private readonly k: number,
    private readonly s: number,
    private readonly ignore: number,
    private readonly scale: number, // 1/count for mean, 1 for sum; NaN-safe
    private readonly perElement: boolean,
  ) {
    super();
  }
  backward(dy: Tensor): Tensor[] {
    const p = this.prob!.data;
    const dx = allocTensor(this.prob!.shape);
    const g = dx.data;
    const { tgt, k, s } = this;
    const n = tgt.length / s;
    const dys = dy.data;
    // Per position: w = dy·scale, or a negative target where ignored; the kernel forms (p − onehot)·w.
    const w = allocF32(tgt.length);
    const t = new Int32Array(tgt.length);
    try {
      for (let i = 0; i < tgt.length; i++) {
        const ignored = tgt[i] === this.ignore;
        t[i] = ignored ? -1 : tgt[i]!;
        w[i] = ignored ? 0 : (this.perElement ? dys[i]! : dys[0]!) * this.scale;
      }
      kernels().softmaxPlanesBackward(g, p, w, t, n, k, s);
    } finally {
      release(heapPointer(w));
    }
    return [dx];
  }
  override release(): void {
    this.prob?.dispose();
    this.prob = null;
    super.release();
  }
}

function targetValues(target: Target): ArrayLike<number> {
  if (target instanceof Tensor) return target.data;
  if (ArrayBuffer.isView(target) || Array.isArray(target)) return target;
  throw new UsageError(
    `crossEntropy: target must be a Tensor, Int32Array or array of class indices, received ${describe(target)}`,
  );
}

/**
 * torch.nn.functional.cross_entropy(input, target, ignore_index, reduction): input (N, K) or
 * (N, K, d1, …) logits, target (N) or (N, d1, …) class indices in [0, K) or ignoreIndex.
 * log-softmax in float64; a target out of range is a ValueError naming the value and the range.
 */
export function crossEntropy(input: Tensor, target: Target, opts: CrossEntropyOptions = {}): Tensor {
  checkTensor('crossEntropy', 'input', input);
  const ignore = opts.ignoreIndex ?? -100;
  const reduction = opts.reduction ?? 'mean';
  if (!['mean', 'sum', 'none'].includes(reduction))
    throw new UsageError(`crossEntropy: reduction must be 'mean', 'sum' or 'none', received ${describe(reduction)}`);
  if (input.ndim < 2)
    throw new ShapeError(
      `crossEntropy: input must be (N, K) or (N, K, d1, …) logits, received shape ${fmtShape(input.shape)}`,
    );
  const n = input.shape[0]!;
  const k = input.shape[1]!;
  const spatial = input.shape.slice(2);
  const tshape = target instanceof Tensor ? target.shape : null;
  const tv = targetValues(target);
  const s = spatial.reduce((a, b) => a * b, 1);
  const expected = [n, ...spatial];
  if (
    (tshape !== null && (tshape.length !== expected.length || tshape.some((d, i) => d !== expected[i]))) ||
    tv.length !== n * s
  ) {
    throw new ShapeError(
      `crossEntropy: target shape ${tshape !== null ? fmtShape(tshape) : `[${tv.length}]`} does not match input ` +
        `${fmtShape(input.shape)}: expected ${fmtShape(expected)}`,
    );
  }
  const tgt = new Int32Array(tv.length);
  for (let i = 0; i < tv.length; i++) {
    const t = tv[i]!;
    if (t !== ignore && !(Number.isInteger(t) && t >= 0 && t < k)) {
      throw new ValueError(
        `crossEntropy: target value ${t} at index ${i} is out of range: expected a class in [0, ${k - 1}] or ` +
          `ignoreIndex ${ignore}`,
      );
    }
    tgt[i] = t;
  }
  const x = input.data;
  const prob = allocTensor(input.shape);
  const p = prob.data;
  const losses = reduction === 'none' ? allocTensor(expected) : null;
  let total = 0;
  let count = 0;
  // Softmax, max and normalizer per position by the kernel (wasm: SIMD over positions); the loss
  // m + ln z − x[target] and its sum in float64.
  const mz = allocF32(2 * n * s);
  try {
    kernels().softmaxPlanes(p, mz, x, n, k, s);
    for (let i = 0; i < n * s; i++) {
      const t = tgt[i]!;
      let l = 0;
      if (t !== ignore) {
        l = mz[i]! + Math.log(mz[n * s + i]!) - x[(Math.floor(i / s) * k + t) * s + (i % s)]!;
        total += l;
        count++;
      }
      if (losses !== null) losses.data[i] = l;
    }
  } finally {
    release(heapPointer(mz));
  }
  let out: Tensor;
  let scale = 1;
  if (losses !== null) out = losses;
  else {
    out = allocTensor([]);
    if (reduction === 'mean') {
      out.data[0] = total / count; // NaN when every position is ignored, as PyTorch
      scale = count > 0 ? 1 / count : 0;
    } else out.data[0] = total;
  }
  traceOp(out, 'crossEntropy', [input]);
  if (!needsGrad(input)) {
    prob.dispose();
    return out;
  }
  return record(out, new CrossEntropyBackward(prob, tgt, k, s, ignore, scale, losses !== null), input);
}
