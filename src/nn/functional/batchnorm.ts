// Differentiable batch norm: the batch-norm pipeline (kernels/batchnorm.ts) over tensors, SyncBN's seams included.
import { ShapeError, StateError, UsageError } from '../../errors.js';
import { kernels, type BNGeom, type KernelSet } from '../../kernels/index.js';
import {
  bnBackward,
  bnBatchStats,
  bnFailBeforeExchange,
  bnGeom,
  bnUpdateRunning,
  checkEps,
  checkMomentum,
  type BNExchange,
  type BNStats,
} from '../../kernels/batchnorm.js';
import { traceOp } from '../../autograd/trace.js';
import { Node, needsGrad, record } from '../../autograd/node.js';
import { allocF64, heapPointer, release } from '../../kernels/wasm/heap.js';
import { fmtShape } from '../../tensor/shape.js';
import { type Tensor, checkTensor } from '../../tensor/tensor.js';
import { allocTensor } from '../../tensor/internal.js';

/** Options of {@link batchNorm} (torch.nn.functional.batch_norm's, plus layout, fusion and SyncBN's exchange). */
export interface BatchNormOptions {
  /** batch statistics (true) or running statistics (false; batch ones if there are none) */
  training: boolean;
  /** running-average factor; null = cumulative average over numBatchesTracked. Default 0.1. */
  momentum?: number | null;
  eps?: number;
  /** input is (N, *, C) instead of (N, C, *) */
  channelsLast?: boolean;
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  /** a one-element buffer counting training batches; incremented here when running stats are updated */
  numBatchesTracked?: Tensor | null;
  /** apply ReLU to the output in the same pass (same result as batchNorm then relu, one tensor less) */
  fuseRelu?: boolean;
  /** SyncBN's collectives at the pipeline's two seams; null = local statistics */
  exchange?: BNExchange | null;
}

/** The checked options: geometry, eps and momentum (defaults applied). */
interface Checked {
  g: BNGeom;
  eps: number;
  momentum: number | null;
}

function validate(x: Tensor, weight: Tensor | null, bias: Tensor | null, opts: BatchNormOptions): Checked {
  const eps = checkEps('batchNorm', opts.eps ?? 1e-5);
  const momentum = checkMomentum('batchNorm', opts.momentum === undefined ? 0.1 : opts.momentum);
  const g = bnGeom(x.shape, opts.channelsLast === true, x.size);
  checkPerChannel('weight', weight, g.c, x);
  checkPerChannel('bias', bias, g.c, x);
  const rm = opts.runningMean ?? null;
  const rv = opts.runningVar ?? null;
  checkPerChannel('runningMean', rm, g.c, x);
  checkPerChannel('runningVar', rv, g.c, x);
  if ((rm === null) !== (rv === null))
    throw new UsageError('batchNorm: give both runningMean and runningVar, or neither');
  if (opts.training && rm !== null && momentum === null && opts.numBatchesTracked == null) {
    throw new UsageError('batchNorm: momentum null (cumulative average) needs numBatchesTracked');
  }
  return { g, eps, momentum };
}

function checkPerChannel(name: string, t: Tensor | null | undefined, c: number, x: Tensor): void {
  if (t != null && t.size !== c) {
    throw new ShapeError(
      `batchNorm: ${name} has shape ${fmtShape(t.shape)} but input ${fmtShape(x.shape)} has ${c} channels`,
    );
  }
}

class BatchNormBackward extends Node {
  readonly name = 'BatchNormBackward';
  private readonly hasW: boolean;
  private readonly hasY: boolean;
  constructor(
    x: Tensor,
    y: Tensor | null, // fused-ReLU output, to mask dy
    w: Tensor | null,
    private store: Tensor | null, // heap tensor holding [mean | invstd] (freed with the graph, or by GC)
    private readonly stats: Float64Array, // the 2C float64 view of store
    private readonly g: BNGeom,
    private readonly count: number,
    private readonly training: boolean, // false: the statistics were constants (running statistics)
    private readonly exchange: BNExchange | null,
  ) {
    super();
    this.save(x);
    if (w !== null) this.save(w);
    if (y !== null) this.save(y);
    this.hasW = w !== null;
    this.hasY = y !== null;
  }

  backward(dy: Tensor): (Tensor | null)[] {
    const c = this.g.c;
    const x = this.savedTensor(0);
    const w = this.hasW ? this.savedTensor(1) : null;
    const y = this.hasY ? this.savedTensor(this.hasW ? 2 : 1) : null;
    if (this.store === null || this.store.isDisposed)
      throw new StateError('BatchNormBackward: its saved statistics were freed');
    const saved = {
      count: this.count,
      mean: this.stats.subarray(0, c),
      invstd: this.stats.subarray(c),
      training: this.training,
    };
    const dx = this.inputs[0] !== null ? allocTensor(x.shape) : null;
    const dw = this.inputs[1] != null ? allocTensor([c]) : null;
    const db = this.inputs[2] != null ? allocTensor([c]) : null;
    const work = allocF64(2 * c); // Σdy | Σdy·(x − μ), heap-resident so the wasm kernels use it in place
    try {
      const sums = { sumDy: work.subarray(0, c), sumDyXmu: work.subarray(c) };
      const grads = { dx: dx?.data ?? null, dWeight: dw?.data ?? null, dBias: db?.data ?? null };
      bnBackward(
        grads,
        sums,
        dy.data,
        x.data,
        saved,
        w?.data ?? null,
        y?.data ?? null,
        this.g,
        this.exchange,
        kernels(),
      );
      return [dx, dw, db];
    } finally {
      release(heapPointer(work));
    }
  }
  override release(): void {
    this.store?.dispose();
    this.store = null;
    super.release();
  }
}

/**
 * torch.nn.functional.batch_norm for (N, C, *) (or (N, *, C) with channelsLast), ranks 2–5.
 * Training: per-channel batch mean and biased variance normalize; running stats get the unbiased one.
 */
export function batchNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, opts: BatchNormOptions): Tensor {
  checkTensor('batchNorm', 'input', x);
  checkTensor('batchNorm', 'weight', weight, true);
  checkTensor('batchNorm', 'bias', bias, true);
  const exchange = opts.exchange ?? null;
  const k = kernels();
  const rm = opts.runningMean ?? null;
  const rv = opts.runningVar ?? null;
  const useBatch = opts.training || rm === null;
  let checked: Checked;
  try {
    checked = validate(x, weight, bias, opts);
  } catch (e) {
    // A SyncBN participant that fails here still shows up at the exchange, or the others would hang.
    bnFailBeforeExchange(useBatch ? exchange : null, e, k);
  }
  const { g, eps, momentum } = checked;
  const c = g.c;
  // [mean | invstd] kept for backward (heap-resident so the wasm kernels read them in place).
  const store = allocTensor([4 * c]); // 2C float64 = 4C float32 slots, 64-byte aligned
  const kept = new Float64Array(store.data.buffer, store.data.byteOffset, 2 * c);
  const mean = kept.subarray(0, c);
  const invstd = kept.subarray(c);
  let count = 0;
  if (useBatch) {
    const work = allocF64(3 * c); // m2 | varBiased | varUnbiased
    try {
      const stats: BNStats = {
        count: 0,
        mean,
        varBiased: work.subarray(c, 2 * c),
        varUnbiased: work.subarray(2 * c),
        invstd,
      };
      bnBatchStats(stats, work.subarray(0, c), x.data, g, eps, exchange, k, x.shape);
      count = stats.count;
      if (opts.training && rm !== null && rv !== null)
        updateRunning(rm, rv, opts.numBatchesTracked ?? null, stats, momentum, k);
    } catch (e) {
      store.dispose();
      throw e;
    } finally {
      release(heapPointer(work));
    }
  } else {
    const m = rm.data;
    const v = rv!.data;
    for (let i = 0; i < c; i++) {
      mean[i] = m[i]!;
      invstd[i] = 1 / Math.sqrt(v[i]! + eps);
    }
  }
  const out = allocTensor(x.shape);
  const relu = opts.fuseRelu === true;
  k.batchNormElemt(out.data, x.data, mean, invstd, weight?.data ?? null, bias?.data ?? null, g, relu);
  traceOp(out, 'batchNorm', [x, weight, bias, rm, rv], {
    eps,
    useBatch,
    fuseRelu: relu,
    channelsLast: opts.channelsLast === true,
  });
  if (!needsGrad(x, weight, bias)) {
    store.dispose();
    return out;
  }
  const node = new BatchNormBackward(x, relu ? out : null, weight, store, kept, g, count, useBatch, exchange);
  return record(out, node, x, weight, bias);
}

/** The running statistics and their batch counter (PyTorch increments the counter before it uses it). */
function updateRunning(
  rm: Tensor,
  rv: Tensor,
  nbt: Tensor | null,
  stats: BNStats,
  momentum: number | null,
  k: KernelSet,
): void {
  // An empty batch updates nothing, not even the counter.
  if (stats.count === 0) return;
  let tracked = 0;
  if (nbt !== null) {
    tracked = nbt.data[0]! + 1;
    nbt.data[0] = tracked;
    nbt.version++;
  }
  bnUpdateRunning(rm.data, rv.data, stats, momentum, tracked, k);
  rm.version++;
  rv.version++;
}
