// Differentiable group norm (PyTorch's F.group_norm) over the group-norm kernels: stats → elemt; reduce → elemt.
import { ShapeError, StateError, UsageError, describe } from '../../errors.js';
import { kernels, type GNGeom } from '../../kernels/index.js';
import { checkGroupNormEps, gnGeom, groupNormParamGrads } from '../../kernels/groupnorm.js';
import { traceOp } from '../../autograd/trace.js';
import { Node, needsGrad, record } from '../../autograd/node.js';
import { allocF64, heapPointer, release } from '../../kernels/wasm/heap.js';
import { fmtShape } from '../../tensor/shape.js';
import { type Tensor, checkTensor } from '../../tensor/tensor.js';
import { allocTensor } from '../../tensor/internal.js';

/** Options of groupNorm. */
export interface GroupNormOptions {
  /** added to the variance before the square root; default 1e-5 */
  eps?: number;
}

/**
 * Throw a UsageError naming the first key of `opts` not in `allowed` (a misspelt option must not be ignored).
 * `opts` must be a plain object or undefined.
 */
export function checkOptionKeys(op: string, opts: unknown, allowed: readonly string[]): void {
  if (opts === undefined) return;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new UsageError(`${op}: options must be an object, received ${describe(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!allowed.includes(key)) {
      const expected = allowed.map((k) => JSON.stringify(k)).join(', ');
      throw new UsageError(`${op}: unknown option ${JSON.stringify(key)} (expected one of ${expected})`);
    }
  }
}

function checkPerChannel(name: string, t: Tensor | null, c: number, x: Tensor): void {
  if (t !== null && (t.ndim !== 1 || t.size !== c)) {
    throw new ShapeError(
      `groupNorm: ${name} must have shape [${c}] (the channel count of input ${fmtShape(x.shape)}), ` +
        `received ${fmtShape(t.shape)}`,
    );
  }
}

class GroupNormBackward extends Node {
  readonly name = 'GroupNormBackward';
  private readonly hasW: boolean;
  constructor(
    x: Tensor,
    w: Tensor | null,
    private store: Tensor | null, // heap tensor holding `stats` (freed with the graph)
    private readonly stats: Float64Array, // [mean | invstd], 2·n·groups float64 view of store
    private readonly g: GNGeom,
  ) {
    super();
    this.save(x);
    if (w !== null) this.save(w);
    this.hasW = w !== null;
  }

  backward(dy: Tensor): (Tensor | null)[] {
    const k = kernels();
    const { n, c, groups } = this.g;
    const x = this.savedTensor(0);
    const w = this.hasW ? this.savedTensor(1) : null;
    if (this.store === null || this.store.isDisposed) {
      throw new StateError('GroupNormBackward: its saved statistics were freed');
    }
    const mean = this.stats.subarray(0, n * groups);
    const invstd = this.stats.subarray(n * groups, 2 * n * groups);
    const sums = allocF64(2 * n * c);
    try {
      const sumDy = sums.subarray(0, n * c);
      const sumDyXmu = sums.subarray(n * c, 2 * n * c);
      // Per (sample, channel): Σdy and Σdy·(x − μ); dγ, dβ and the group terms of dx all come from these.
      k.groupNormBackwardReduce(sumDy, sumDyXmu, dy.data, x.data, mean, this.g);
      const dw = this.inputs[1] != null ? allocTensor([c]) : null;
      const db = this.inputs[2] != null ? allocTensor([c]) : null;
      groupNormParamGrads(dw?.data ?? null, db?.data ?? null, sumDy, sumDyXmu, invstd, this.g);
      let dx: Tensor | null = null;
      if (this.inputs[0] !== null) {
        dx = allocTensor(x.shape);
        const wd = w === null ? null : w.data;
        k.groupNormBackwardElemt(dx.data, dy.data, x.data, mean, invstd, wd, sumDy, sumDyXmu, this.g);
      }
      return [dx, dw, db];
    } finally {
      release(heapPointer(sums));
    }
  }
  override release(): void {
    this.store?.dispose();
    this.store = null;
    super.release();
  }
}

/**
 * torch.nn.functional.group_norm: x of shape (N, C, *) (rank ≥ 2) is normalized per sample over each of
 * `numGroups` groups of C/numGroups consecutive channels and all spatial positions, with the biased variance:
 * y = (x − μ[n,g])/sqrt(var[n,g] + eps)·weight[c] + bias[c]. weight/bias (shape [C]) are optional.
 * Unlike batch norm the statistics never involve other samples, so train and eval behave the same.
 */
export function groupNorm(
  x: Tensor,
  numGroups: number,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  opts: GroupNormOptions = {},
): Tensor {
  checkTensor('groupNorm', 'input', x);
  checkTensor('groupNorm', 'weight', weight, true);
  checkTensor('groupNorm', 'bias', bias, true);
  checkOptionKeys('groupNorm', opts, ['eps']);
  const eps = checkGroupNormEps(opts.eps ?? 1e-5);
  const g = gnGeom(x.shape, numGroups);
  checkPerChannel('weight', weight, g.c, x);
  checkPerChannel('bias', bias, g.c, x);
  const k = kernels();
  const ng = g.n * g.groups;
  // stats = [mean | invstd] kept for backward, heap-resident so the wasm kernels read them in place.
  const store = allocTensor([4 * ng]); // 2·ng float64 = 4·ng float32 slots, 64-byte aligned
  const stats = new Float64Array(store.data.buffer, store.data.byteOffset, 2 * ng);
  const mean = stats.subarray(0, ng);
  const invstd = stats.subarray(ng, 2 * ng);
  k.groupNormStats(mean, invstd, x.data, g, eps);
  const out = allocTensor(x.shape);
  k.groupNormElemt(out.data, x.data, mean, invstd, weight?.data ?? null, bias?.data ?? null, g);
  traceOp(out, 'groupNorm', [x, weight, bias], { numGroups: g.groups, eps });
  if (!needsGrad(x, weight, bias)) {
    store.dispose();
    return out;
  }
  return record(out, new GroupNormBackward(x, weight, store, stats, g), x, weight, bias);
}
