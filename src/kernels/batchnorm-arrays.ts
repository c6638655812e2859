// Batch norm on raw Float32Arrays: validation, then the pipeline of batchnorm.ts (no Tensor, no autograd).
import type { BNGeom, KernelSet } from './types.js';
import { kernels } from './backend.js';
import { ShapeError, UsageError, describe } from '../errors.js';
import {
  bnBackward,
  bnBatchStats,
  bnFailBeforeExchange,
  bnGeom,
  bnStatsBuffers,
  bnUpdateRunning,
  checkAllFinite,
  checkChannelParam,
  checkEps,
  checkMomentum,
  type BNBackwardSums,
  type BNExchange,
  type BNSaved,
  type BNStats,
} from './batchnorm.js';

/** Options of every raw-array batch-norm call. */
export interface BatchNormCommon {
  /** the input as stored: (N, C, *) or, with channelsLast, (N, *, C) */
  shape: readonly number[];
  channelsLast?: boolean;
  eps?: number;
  weight?: Float32Array | null;
  bias?: Float32Array | null;
  /** fused ReLU: out = max(bn(x), 0) */
  relu?: boolean;
  /** scan the input for NaN/±Inf first and throw ValueError */
  checkFinite?: boolean;
  /** output buffer (pass a heap array, allocF32, for the no-copy fast path); default a new Float32Array */
  out?: Float32Array;
  kernels?: KernelSet;
}

/** Options of {@link batchNormTrain}. */
export interface BatchNormTrainOptions extends BatchNormCommon {
  /** SyncBN: merge with every worker's statistics (see BNExchange). */
  exchange?: BNExchange | null;
  /** PyTorch semantics; null ⇒ cumulative average (needs numBatchesTracked). Default 0.1. */
  momentum?: number | null;
  runningMean?: Float32Array | null;
  runningVar?: Float32Array | null;
  /** batches seen *including this one* (PyTorch increments before it uses it); needed when momentum is null */
  numBatchesTracked?: number;
}

/** What {@link batchNormTrain} returns: the batch statistics, the output and what backward needs. */
export interface BatchNormTrainResult extends BNStats {
  out: Float32Array;
  saved: BNSaved;
}

/** Options of {@link batchNormEval}. */
export interface BatchNormEvalOptions extends BatchNormCommon {
  runningMean: Float32Array;
  runningVar: Float32Array;
}

/** Options of {@link batchNormBackward}. */
export interface BatchNormBackwardOptions {
  shape: readonly number[];
  channelsLast?: boolean;
  weight?: Float32Array | null;
  /** the forward output, when the forward fused a ReLU: dy passes only where y > 0 */
  y?: Float32Array | null;
  /** dx buffer; default a new Float32Array */
  dx?: Float32Array;
  kernels?: KernelSet;
  /** SyncBN: sum Σdy and Σdy·(x − μ) over every worker before dx (training mode only). */
  exchange?: BNExchange | null;
}

/** What {@link batchNormBackward} returns: dx, dγ, dβ and the float64 sums (global with an exchange). */
export type BatchNormBackwardResult = BNBackwardSums & { dx: Float32Array; dWeight: Float32Array; dBias: Float32Array };

function checkOut(name: string, out: Float32Array | undefined, length: number): Float32Array {
  if (out === undefined) return new Float32Array(length);
  if (!(out instanceof Float32Array) || out.length !== length) {
    throw new ShapeError(`batchNorm: ${name} must be a Float32Array of length ${length}, received ${describe(out)}`);
  }
  return out;
}

function checkInput(x: unknown, o: unknown): void {
  if (typeof o !== 'object' || o === null) {
    throw new UsageError(`batchNorm: options must be an object, received ${describe(o)}`);
  }
  if (!(x instanceof Float32Array))
    throw new UsageError(`batchNorm: input must be a Float32Array, received ${describe(x)}`);
}

function common(x: Float32Array, o: BatchNormCommon): { g: BNGeom; eps: number; out: Float32Array } {
  checkInput(x, o);
  const g = bnGeom(o.shape, o.channelsLast ?? false, x.length);
  checkChannelParam('weight', o.weight, g.c);
  checkChannelParam('bias', o.bias, g.c);
  const eps = checkEps('batchNorm', o.eps ?? 1e-5);
  if (o.checkFinite === true) checkAllFinite('input', x);
  return { g, eps, out: checkOut('out', o.out, x.length) };
}

/** Training-mode forward on one worker (or, with `exchange`, over every worker): statistics, output, running stats. */
export function batchNormTrain(x: Float32Array, o: BatchNormTrainOptions): BatchNormTrainResult {
  const k = o?.kernels ?? kernels();
  let g: BNGeom;
  let eps: number;
  let out: Float32Array;
  let momentum: number | null;
  try {
    ({ g, eps, out } = common(x, o));
    momentum = checkMomentum('batchNorm', o.momentum === undefined ? 0.1 : o.momentum);
    checkChannelParam('runningMean', o.runningMean, g.c);
    checkChannelParam('runningVar', o.runningVar, g.c);
    if ((o.runningMean == null) !== (o.runningVar == null)) {
      const only = o.runningMean == null ? 'runningVar' : 'runningMean';
      throw new UsageError(`batchNorm: runningMean and runningVar go together, received only ${only}`);
    }
    const nbt = o.numBatchesTracked;
    if (o.runningMean != null && momentum === null && (!Number.isSafeInteger(nbt) || nbt! < 1)) {
      throw new UsageError(
        'batchNorm: numBatchesTracked must be an integer ≥ 1 (counting this batch) when momentum is null, ' +
          `received ${describe(nbt)}`,
      );
    }
  } catch (e) {
    bnFailBeforeExchange(o?.exchange, e, k);
  }
  const stats = bnStatsBuffers(g.c);
  bnBatchStats(stats, new Float64Array(g.c), x, g, eps, o.exchange ?? null, k, o.shape);
  if (x.length > 0) {
    k.batchNormElemt(out, x, stats.mean, stats.invstd, o.weight ?? null, o.bias ?? null, g, o.relu ?? false);
  }
  if (o.runningMean != null)
    bnUpdateRunning(o.runningMean, o.runningVar!, stats, momentum, o.numBatchesTracked ?? 1, k);
  return { ...stats, out, saved: { count: stats.count, mean: stats.mean, invstd: stats.invstd, training: true } };
}

/** Eval-mode forward: normalize with the running statistics. */
export function batchNormEval(x: Float32Array, o: BatchNormEvalOptions): { out: Float32Array; saved: BNSaved } {
  const { g, eps, out } = common(x, o);
  checkChannelParam('runningMean', o.runningMean, g.c, false);
  checkChannelParam('runningVar', o.runningVar, g.c, false);
  const k = o.kernels ?? kernels();
  const mean = Float64Array.from(o.runningMean);
  const invstd = Float64Array.from(o.runningVar, (v) => 1 / Math.sqrt(v + eps));
  if (x.length > 0) k.batchNormElemt(out, x, mean, invstd, o.weight ?? null, o.bias ?? null, g, o.relu ?? false);
  return { out, saved: { count: g.n * g.s, mean, invstd, training: false } };
}

/** Backward on one worker (or, with `exchange`, over every worker): dx, dγ, dβ and the float64 sums. */
export function batchNormBackward(
  dy: Float32Array,
  x: Float32Array,
  saved: BNSaved,
  o: BatchNormBackwardOptions,
): BatchNormBackwardResult {
  checkInput(x, o);
  const g = bnGeom(o.shape, o.channelsLast ?? false, x.length);
  if (!(dy instanceof Float32Array) || dy.length !== x.length) {
    throw new ShapeError(
      `batchNorm: gradOutput must be a Float32Array of length ${x.length} (like the input), received ${describe(dy)}`,
    );
  }
  if (o.y != null && (!(o.y instanceof Float32Array) || o.y.length !== x.length)) {
    throw new ShapeError(
      `batchNorm: y (the fused-ReLU output) must be a Float32Array of length ${x.length}, received ${describe(o.y)}`,
    );
  }
  checkChannelParam('weight', o.weight, g.c);
  const { mean, invstd } = saved;
  if (
    !(mean instanceof Float64Array) ||
    mean.length !== g.c ||
    !(invstd instanceof Float64Array) ||
    invstd.length !== g.c
  ) {
    throw new ShapeError(
      `batchNorm: saved mean and invstd must be Float64Array of length ${g.c}, ` +
        `received ${describe(mean)} and ${describe(invstd)}`,
    );
  }
  const dx = checkOut('dx', o.dx, x.length);
  const grads = { dx, dWeight: new Float32Array(g.c), dBias: new Float32Array(g.c) };
  const sums = { sumDy: new Float64Array(g.c), sumDyXmu: new Float64Array(g.c) };
  bnBackward(grads, sums, dy, x, saved, o.weight ?? null, o.y ?? null, g, o.exchange ?? null, o.kernels ?? kernels());
  return { ...sums, ...grads };
}
