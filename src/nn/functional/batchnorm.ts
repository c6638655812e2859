// Differentiable batch norm over the batch-norm kernels, with explicit steps where SyncBN inserts its collectives.
import { ShapeError, StateError, UsageError, describe } from '../../errors.js';
import { kernels, type BNGeom } from '../../kernels/index.js';
import { bnGeom, checkTrainingCount } from '../../kernels/batchnorm.js';
import { traceOp } from '../../autograd/trace.js';
import { Node, needsGrad, record } from '../../autograd/node.js';
import { allocF64, heapPointer, release } from '../../kernels/wasm/heap.js';
import { fmtShape } from '../../tensor/shape.js';
import { Tensor, checkTensor } from '../../tensor/tensor.js';
import { allocTensor } from '../../tensor/internal.js';

/** Statistics of the whole batch (over every participant) after the merge. */
export interface BNGlobalStats {
  count: number;
  mean: Float64Array;
  varUnbiased: Float64Array;
  invstd: Float64Array;
}

/**
 * The two exchanges that turn batch norm into SyncBatchNorm (src/parallel implements them over a
 * process group, e.g. with exchangeForwardStats / exchangeBackwardSums). Without one, the layer
 * normalizes with local statistics.
 */
export interface BatchNormExchange {
  /** Forward, between local statistics and normalization: gather every participant's (count, mean, M2) and merge. */
  forwardStats(count: number, mean: Float64Array, m2: Float64Array, eps: number): BNGlobalStats;
  /** Backward, between the reduce and the elementwise step: sum Σdy and Σdy·(x − μ) over participants, in place. */
  backwardSums(sumDy: Float64Array, sumDyXmu: Float64Array): void;
  /** This participant failed before its forward exchange: tell the others (so they fail, not hang), then throw `error`. */
  forwardFailed?(error: unknown): never;
}

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
  /** SyncBN's collectives; null = local statistics */
  exchange?: BatchNormExchange | null;
}

function validate(x: Tensor, weight: Tensor | null, bias: Tensor | null, opts: BatchNormOptions): BNGeom {
  const eps = opts.eps ?? 1e-5;
  const momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
  if (!(eps >= 0 && Number.isFinite(eps))) throw new UsageError(`batchNorm: eps must be a finite number ≥ 0, received ${describe(eps)}`);
  if (momentum !== null && !(momentum >= 0 && momentum <= 1)) throw new UsageError(`batchNorm: momentum must be a number in [0, 1] or null (cumulative average), received ${describe(momentum)}`);
  const g = bnGeom(x.shape, opts.channelsLast === true, x.size);
  checkPerChannel('weight', weight, g.c, x);
  checkPerChannel('bias', bias, g.c, x);
  const rm = opts.runningMean ?? null;
  const rv = opts.runningVar ?? null;
  checkPerChannel('runningMean', rm, g.c, x);
  checkPerChannel('runningVar', rv, g.c, x);
  if ((rm === null) !== (rv === null)) throw new UsageError('batchNorm: give both runningMean and runningVar, or neither');
  if (opts.training && rm !== null && momentum === null && opts.numBatchesTracked == null) {
    throw new UsageError('batchNorm: momentum null (cumulative average) needs numBatchesTracked');
  }
  return g;
}

function checkPerChannel(name: string, t: Tensor | null | undefined, c: number, x: Tensor): void {
  if (t != null && t.size !== c) throw new ShapeError(`batchNorm: ${name} has shape ${fmtShape(t.shape)} but input ${fmtShape(x.shape)} has ${c} channels`);
}

class BatchNormBackward extends Node {
  readonly name = 'BatchNormBackward';
  constructor(
    x: Tensor,
    y: Tensor | null, // fused-ReLU output, to mask dy
    w: Tensor | null,
    private store: Tensor | null, // heap tensor holding `stats` (freed with the graph, or by GC if never backwarded)
    private readonly stats: Float64Array, // [mean | invstd], 2C float64 view of store
    private readonly g: BNGeom,
    private readonly count: number, // global count N (training) or 0 (eval: fixed statistics)
    private readonly exchange: BatchNormExchange | null,
  ) {
    super();
    this.save(x);
    if (w !== null) this.save(w);
    if (y !== null) this.save(y);
    this.hasW = w !== null;
    this.hasY = y !== null;
  }
  private readonly hasW: boolean;
  private readonly hasY: boolean;

  backward(dy: Tensor): (Tensor | null)[] {
    const k = kernels();
    const c = this.g.c;
    const x = this.savedTensor(0);
    const w = this.hasW ? this.savedTensor(1) : null;
    const y = this.hasY ? this.savedTensor(this.hasW ? 2 : 1) : null;
    if (this.store === null || this.store.isDisposed) throw new StateError('BatchNormBackward: its saved statistics were freed');
    const mean = this.stats.subarray(0, c);
    const invstd = this.stats.subarray(c, 2 * c);
    const sums = allocF64(2 * c);
    try {
      const sumDy = sums.subarray(0, c);
      const sumDyXmu = sums.subarray(c, 2 * c);
      // Step 1: local reduction Σdy, Σdy·(x − μ).
      k.batchNormBackwardReduce(sumDy, sumDyXmu, dy.data, x.data, mean, this.g, y === null ? null : y.data);
      // dγ = Σdy·(x − μ)·invstd and dβ = Σdy stay local (DDP all-reduces them with the other gradients).
      let dw: Tensor | null = null;
      let db: Tensor | null = null;
      if (this.inputs[1] != null) {
        dw = allocTensor([c]);
        // an empty batch has no statistics (invstd NaN) but nothing to differentiate either: dγ = 0
        for (let i = 0; i < c; i++) dw.data[i] = sumDyXmu[i] === 0 ? 0 : sumDyXmu[i]! * invstd[i]!;
      }
      if (this.inputs[2] != null) {
        db = allocTensor([c]);
        for (let i = 0; i < c; i++) db.data[i] = sumDy[i]!;
      }
      // Step 2 (SyncBN): sum the reductions over participants (always, so every rank joins the collective).
      if (this.count > 0 && this.exchange !== null) this.exchange.backwardSums(sumDy, sumDyXmu);
      let dx: Tensor | null = null;
      if (this.inputs[0] !== null) {
        dx = allocTensor(x.shape);
        if (this.count > 0) {
          // Step 3: dx = w·invstd·(dy − Σdy/N − (x − μ)·invstd²·Σdy(x − μ)/N).
          k.batchNormBackwardElemt(dx.data, dy.data, x.data, mean, invstd, w === null ? null : w.data, sumDy, sumDyXmu, this.count, this.g, y === null ? null : y.data);
        } else {
          // Fixed (running) statistics: dx = w·invstd·dy, the same kernel with zero sums.
          sums.fill(0);
          k.batchNormBackwardElemt(dx.data, dy.data, x.data, mean, invstd, w === null ? null : w.data, sumDy, sumDyXmu, 1, this.g, y === null ? null : y.data);
        }
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
 * torch.nn.functional.batch_norm for (N, C, *) (or (N, *, C) with channelsLast), ranks 2–5.
 * Training: per-channel batch mean and biased variance normalize; running stats get the unbiased one.
 */
export function batchNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, opts: BatchNormOptions): Tensor {
  checkTensor('batchNorm', 'input', x);
  checkTensor('batchNorm', 'weight', weight, true);
  checkTensor('batchNorm', 'bias', bias, true);
  const exchange = opts.exchange ?? null;
  let g: BNGeom;
  try {
    g = validate(x, weight, bias, opts);
  } catch (e) {
    // A SyncBN participant that fails here must still show up at the exchange, or the others hang.
    if (exchange?.forwardFailed !== undefined && (opts.training || opts.runningMean == null)) exchange.forwardFailed(e);
    throw e;
  }
  const eps = opts.eps ?? 1e-5;
  const momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
  const c = g.c;
  const rm = opts.runningMean ?? null;
  const rv = opts.runningVar ?? null;
  const useBatch = opts.training || rm === null;
  const k = kernels();
  // stats = [mean | invstd] kept for backward (heap-resident so the wasm kernels read them in place).
  const store = allocTensor([4 * c]); // 2C float64 = 4C float32 slots, 64-byte aligned
  const stats = new Float64Array(store.data.buffer, store.data.byteOffset, 2 * c);
  const mean = stats.subarray(0, c);
  const invstd = stats.subarray(c, 2 * c);
  let count = 0;
  if (useBatch) {
    const work = allocF64(3 * c); // m2 | varBiased | varUnbiased
    try {
      const m2 = work.subarray(0, c);
      // Step 1: local statistics (count, mean, M2) in float64.
      k.batchNormStats(mean, m2, x.data, g);
      let varU = work.subarray(2 * c, 3 * c);
      if (exchange === null) {
        // Step 2 (local): Chan's merge of the one shard → mean, variances, invstd.
        count = k.batchNormGatherStats(mean, work.subarray(c, 2 * c), varU, invstd, [{ count: g.n * g.s, mean, m2 }], eps);
        checkTrainingCount(count, x.shape);
      } else {
        // Step 2 (SyncBN): gather + merge over every participant (it checks the global count).
        const st = exchange.forwardStats(g.n * g.s, mean, m2, eps);
        count = st.count;
        mean.set(st.mean);
        invstd.set(st.invstd);
        varU = st.varUnbiased;
      }
      if (opts.training && rm !== null && rv !== null && count > 0) {
        const nbt = opts.numBatchesTracked ?? null;
        let tracked = 0;
        if (nbt !== null) {
          tracked = nbt.data[0]! + 1;
          nbt.data[0] = tracked;
          nbt.version++;
        }
        k.batchNormUpdateRunning(rm.data, rv.data, mean, varU, momentum, tracked);
        rm.version++;
        rv.version++;
      }
    } catch (e) {
      store.dispose();
      throw e;
    } finally {
      release(heapPointer(work));
    }
  } else {
    const m = rm!.data;
    const v = rv!.data;
    for (let i = 0; i < c; i++) {
      mean[i] = m[i]!;
      invstd[i] = 1 / Math.sqrt(v[i]! + eps);
    }
  }
  const out = allocTensor(x.shape);
  // Step 4: y = (x − μ)·invstd·γ + β (optionally ReLU).
  const relu = opts.fuseRelu === true;
  k.batchNormElemt(out.data, x.data, mean, invstd, weight === null ? null : weight.data, bias === null ? null : bias.data, g, relu);
  traceOp(out, 'batchNorm', [x, weight, bias, rm, rv], { eps, useBatch, fuseRelu: relu, channelsLast: opts.channelsLast === true });
  if (!needsGrad(x, weight, bias)) {
    store.dispose();
    return out;
  }
  const node = new BatchNormBackward(x, relu ? out : null, weight, store, stats, g, useBatch ? count : 0, exchange);
  return record(out, node, x, weight, bias);
}
