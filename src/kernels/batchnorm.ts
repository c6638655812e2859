// The one batch-norm pipeline over raw arrays: checks, the steps (stats → merge → normalize; reduce → dx) and SyncBN's
// two seams.
import type { BNGeom, KernelSet } from './types.js';
import { ShapeError, UsageError, ValueError, describe } from '../errors.js';
import { kernels } from './backend.js';

/** One worker's per-channel statistics: what SyncBN exchanges between "local stats" and "merge". */
export interface BNShardStats {
  count: number;
  mean: Float64Array;
  m2: Float64Array;
}

/** Statistics of the whole batch (with SyncBN: over every worker), per channel, after the merge. */
export interface BNStats {
  /** Values per channel over the whole batch (0: an empty batch, whose other fields are NaN). */
  count: number;
  mean: Float64Array;
  varBiased: Float64Array;
  varUnbiased: Float64Array;
  /** 1/√(varBiased + eps) */
  invstd: Float64Array;
}

/** Backward reductions per channel: what SyncBN sums over workers between "backward reduce" and "dx". */
export interface BNBackwardSums {
  sumDy: Float64Array;
  sumDyXmu: Float64Array;
}

/** What the forward hands the backward. */
export interface BNSaved {
  /** The count the statistics came from (global with SyncBN). */
  count: number;
  mean: Float64Array;
  invstd: Float64Array;
  /** false when the statistics were constants (running statistics): no gradient flows through them */
  training: boolean;
}

/** A worker that failed before its statistics were ready (bad input, say) offers this at the forward seam. */
export interface BNLocalFailure {
  readonly failed: unknown;
}

/**
 * The two seams where SyncBN puts its collectives (src/parallel builds one from a process group);
 * without an exchange the pipeline is plain, local batch norm.
 */
export interface BNExchange {
  /**
   * Forward seam, between local statistics and normalization: merge every worker's shard (Chan) into
   * the global statistics, checking the global count. Given a failure instead of a shard, it must still
   * join its collective (so every other worker fails at once naming this one, never hangs) and then
   * throw that error.
   */
  mergeStats(local: BNShardStats | BNLocalFailure, eps: number, k: KernelSet): BNStats;
  /** Backward seam, between the local reduce and dx: Σdy and Σdy·(x − μ) over every worker, in place. */
  reduceSums(sums: BNBackwardSums): void;
}

const fmtShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

// ---- checks ------------------------------------------------------------------------------------------

/**
 * The geometry of a batch-norm input. `shape` is the array as stored: (N, C, *) when channelsLast is
 * false, (N, *, C) when true (rank 2 is (N, C) either way). Rank 2–5; `dataLength` must equal ∏shape.
 */
export function bnGeom(shape: readonly number[], channelsLast: boolean, dataLength: number): BNGeom {
  if (!Array.isArray(shape)) {
    throw new ShapeError(`batchNorm: shape must be an array of dimensions, received ${describe(shape)}`);
  }
  if (shape.length < 2 || shape.length > 5) {
    const layout = channelsLast ? '(N, *, C)' : '(N, C, *)';
    throw new ShapeError(
      `batchNorm: input must have rank 2 to 5 ${layout}, received rank ${shape.length} with shape ${fmtShape(shape)}`,
    );
  }
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new ShapeError(`batchNorm: shape must hold non-negative integers, received ${fmtShape(shape)}`);
    }
  }
  if (typeof channelsLast !== 'boolean') {
    throw new UsageError(`batchNorm: channelsLast must be a boolean, received ${describe(channelsLast)}`);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (dataLength !== size) {
    throw new ShapeError(`batchNorm: input has ${dataLength} elements but shape ${fmtShape(shape)} needs ${size}`);
  }
  const n = shape[0]!;
  const c = channelsLast ? shape[shape.length - 1]! : shape[1]!;
  const spatial = channelsLast ? shape.slice(1, -1) : shape.slice(2);
  const s = spatial.reduce((a, b) => a * b, 1);
  return { n, c, s, channelsLast };
}

/** A per-channel array (γ, β, running mean/var) must be a Float32Array of length C; null/undefined pass if optional. */
export function checkChannelParam(name: string, a: unknown, c: number, optional = true): void {
  if ((a === null || a === undefined) && optional) return;
  if (!(a instanceof Float32Array) || a.length !== c) {
    throw new ShapeError(
      `batchNorm: ${name} must be a Float32Array of length ${c} (the channel count C), received ${describe(a)}`,
    );
  }
}

/**
 * Training needs more than one value per channel (else the variance is undefined). `count` is the
 * number of values per channel over every worker (SyncBN passes the global count); shape is the local
 * input shape, for the message. Count 0 (empty batch) is allowed: there is nothing to normalize.
 */
export function checkTrainingCount(count: number, shape: readonly number[]): void {
  if (count === 1) {
    throw new ValueError(`Expected more than 1 value per channel when training, got input size ${fmtShape(shape)}`);
  }
}

/** Throw ValueError naming the first non-finite element of `x`; `op` prefixes the message. */
export function checkAllFinite(name: string, x: Float32Array, op = 'batchNorm'): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v - v !== 0)
      throw new ValueError(`${op}: ${name} must be finite (checkFinite is on), found ${v} at index ${i}`);
  }
}

/** eps must be a finite number ≥ 0; `where` prefixes the message (the layer or function name). */
export function checkEps(where: string, eps: unknown): number {
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) {
    throw new UsageError(`${where}: eps must be a finite number ≥ 0, received ${describe(eps)}`);
  }
  return eps;
}

/** momentum must be a number in [0, 1], or null for the cumulative average; `where` prefixes the message. */
export function checkMomentum(where: string, m: unknown): number | null {
  if (m === null) return null;
  if (typeof m !== 'number' || !Number.isFinite(m) || m < 0 || m > 1) {
    throw new UsageError(
      `${where}: momentum must be a number in [0, 1] or null (cumulative average), received ${describe(m)}`,
    );
  }
  return m;
}

// ---- the steps -----------------------------------------------------------------------------------------

/** New float64 buffers for the statistics of C channels. */
export function bnStatsBuffers(c: number): BNStats {
  const f = (): Float64Array => new Float64Array(c);
  return { count: 0, mean: f(), varBiased: f(), varUnbiased: f(), invstd: f() };
}

/** Forward step 1: this worker's count, mean and M2 per channel. */
export function bnLocalStats(x: Float32Array, g: BNGeom, k: KernelSet = kernels()): BNShardStats {
  const mean = new Float64Array(g.c);
  const m2 = new Float64Array(g.c);
  k.batchNormStats(mean, m2, x, g);
  return { count: g.n * g.s, mean, m2 };
}

/** Forward step 2: merge shard statistics (Chan) into the batch statistics. */
export function bnMergeStats(
  shards: readonly BNShardStats[],
  c: number,
  eps: number,
  k: KernelSet = kernels(),
): BNStats {
  const out = bnStatsBuffers(c);
  out.count = k.batchNormGatherStats(out.mean, out.varBiased, out.varUnbiased, out.invstd, shards, eps);
  return out;
}

/**
 * Forward steps 1–2 into the caller's buffers (`m2`: scratch of length C): local statistics, then the
 * merge — of the one local shard, or of every worker's through `exchange` (which checks the global
 * count). `shape` is the input's, for the message of the one-value-per-channel check.
 */
export function bnBatchStats(
  out: BNStats,
  m2: Float64Array,
  x: Float32Array,
  g: BNGeom,
  eps: number,
  exchange: BNExchange | null,
  k: KernelSet,
  shape: readonly number[],
): void {
  k.batchNormStats(out.mean, m2, x, g);
  const local: BNShardStats = { count: g.n * g.s, mean: out.mean, m2 };
  if (exchange === null) {
    // One shard: the merge reads mean before it writes it, so it may be the output too.
    out.count = k.batchNormGatherStats(out.mean, out.varBiased, out.varUnbiased, out.invstd, [local], eps);
    checkTrainingCount(out.count, shape);
    return;
  }
  const merged = exchange.mergeStats(local, eps, k);
  out.count = merged.count;
  out.mean.set(merged.mean);
  out.varBiased.set(merged.varBiased);
  out.varUnbiased.set(merged.varUnbiased);
  out.invstd.set(merged.invstd);
}

/**
 * A worker that failed before its statistics were ready (a validation error, say) offers the error at
 * the forward seam, so the other workers fail naming it instead of waiting; then `error` is thrown.
 */
export function bnFailBeforeExchange(exchange: BNExchange | null | undefined, error: unknown, k: KernelSet): never {
  if (exchange != null) exchange.mergeStats({ failed: error }, 0, k);
  throw error;
}

/**
 * Running statistics from the batch's mean and unbiased variance (PyTorch momentum semantics;
 * `numBatchesTracked` counts this batch). An empty batch leaves them as they are.
 */
export function bnUpdateRunning(
  runningMean: Float32Array,
  runningVar: Float32Array,
  stats: BNStats,
  momentum: number | null,
  numBatchesTracked: number,
  k: KernelSet,
): void {
  if (stats.count === 0) return;
  k.batchNormUpdateRunning(runningMean, runningVar, stats.mean, stats.varUnbiased, momentum, numBatchesTracked);
}

/** Backward step 1 on new buffers: this worker's Σdy and Σdy·(x − μ) per channel (dy masked by y > 0 if given). */
export function bnBackwardReduce(
  dy: Float32Array,
  x: Float32Array,
  mean: Float64Array,
  g: BNGeom,
  y: Float32Array | null = null,
  k: KernelSet = kernels(),
): BNBackwardSums {
  const sums = { sumDy: new Float64Array(g.c), sumDyXmu: new Float64Array(g.c) };
  k.batchNormBackwardReduce(sums.sumDy, sums.sumDyXmu, dy, x, mean, g, y);
  return sums;
}

/**
 * Parameter gradients from this worker's sums: dγ = Σdy·(x − μ)·invstd, dβ = Σdy (DDP averages them like
 * every gradient). An empty sum gives 0 even where invstd is undefined (an empty batch: NaN).
 */
export function bnParamGrads(
  dWeight: Float32Array | null,
  dBias: Float32Array | null,
  sums: BNBackwardSums,
  invstd: Float64Array,
): void {
  for (let ch = 0; ch < invstd.length; ch++) {
    const s = sums.sumDyXmu[ch]!;
    if (dWeight !== null) dWeight[ch] = s === 0 ? 0 : s * invstd[ch]!;
    if (dBias !== null) dBias[ch] = sums.sumDy[ch]!;
  }
}

/** Where the backward writes: each output may be null (not needed). */
export interface BNGrads {
  dx: Float32Array | null;
  dWeight: Float32Array | null;
  dBias: Float32Array | null;
}

/**
 * The backward: step 1 this worker's Σdy, Σdy·(x − μ) into `sums` (dy masked by y > 0 when the forward
 * fused a ReLU and passes `y`); dγ, dβ from them; step 2 the sums over every worker through `exchange`
 * (training only: running statistics are constants); step 3 dx =
 * w·invstd·(dy − Σdy/N − (x − μ)·invstd²·Σdy(x − μ)/N), or w·invstd·dy for constant statistics.
 */
export function bnBackward(
  grads: BNGrads,
  sums: BNBackwardSums,
  dy: Float32Array,
  x: Float32Array,
  saved: BNSaved,
  weight: Float32Array | null,
  y: Float32Array | null,
  g: BNGeom,
  exchange: BNExchange | null,
  k: KernelSet,
): void {
  k.batchNormBackwardReduce(sums.sumDy, sums.sumDyXmu, dy, x, saved.mean, g, y);
  bnParamGrads(grads.dWeight, grads.dBias, sums, saved.invstd);
  // Every worker joins (even with an empty shard): the decision depends only on the mode.
  if (saved.training && exchange !== null) exchange.reduceSums(sums);
  if (grads.dx === null || x.length === 0) return;
  if (saved.training && saved.count > 0) {
    k.batchNormBackwardElemt(
      grads.dx,
      dy,
      x,
      saved.mean,
      saved.invstd,
      weight,
      sums.sumDy,
      sums.sumDyXmu,
      saved.count,
      g,
      y,
    );
  } else {
    // Constant statistics: the same kernel with zero sums gives exactly w·invstd·dy.
    const zero = new Float64Array(g.c);
    k.batchNormBackwardElemt(grads.dx, dy, x, saved.mean, saved.invstd, weight, zero, zero, 1, g, y);
  }
}
