// Validated batch-norm functions on raw arrays: geometry and argument checks, then the kernel steps composed (stats → merge → elemt; reduce → elemt).
import type { BNGeom, KernelSet } from './types.js';
import { kernels } from './index.js';
import { ShapeError, UsageError, ValueError, describe } from '../errors.js';

/** One worker's per-channel statistics: what SyncBN exchanges between "local stats" and "merge". */
export interface BNShardStats {
  count: number;
  mean: Float64Array;
  m2: Float64Array;
}

/** Statistics of the whole (possibly global) batch, after the merge. */
export interface BNBatchStats {
  count: number;
  mean: Float64Array;
  varBiased: Float64Array;
  varUnbiased: Float64Array;
  invstd: Float64Array;
}

/** Global backward reductions: what SyncBN all-reduces between "backward reduce" and "backward elemt". */
export interface BNBackwardSums {
  sumDy: Float64Array;
  sumDyXmu: Float64Array;
}

const fmtShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/**
 * The geometry of a batch-norm input. `shape` is the array as stored: (N, C, *) when channelsLast is
 * false, (N, *, C) when true (rank 2 is (N, C) either way). Rank 2–5; `dataLength` must equal ∏shape.
 */
export function bnGeom(shape: readonly number[], channelsLast: boolean, dataLength: number): BNGeom {
  if (!Array.isArray(shape)) throw new ShapeError(`batchNorm: shape must be an array of dimensions, received ${describe(shape)}`);
  if (shape.length < 2 || shape.length > 5) {
    const layout = channelsLast ? '(N, *, C)' : '(N, C, *)';
    throw new ShapeError(`batchNorm: input must have rank 2 to 5 ${layout}, received rank ${shape.length} with shape ${fmtShape(shape)}`);
  }
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ShapeError(`batchNorm: shape must hold non-negative integers, received ${fmtShape(shape)}`);
  }
  if (typeof channelsLast !== 'boolean') throw new UsageError(`batchNorm: channelsLast must be a boolean, received ${describe(channelsLast)}`);
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

/** A per-channel parameter (γ, β, running mean/var) must be a Float32Array of length C; null/undefined pass when allowed. */
export function checkChannelParam(name: string, a: unknown, c: number, optional = true): void {
  if ((a === null || a === undefined) && optional) return;
  if (!(a instanceof Float32Array) || a.length !== c) {
    throw new ShapeError(`batchNorm: ${name} must be a Float32Array of length ${c} (the channel count C), received ${describe(a)}`);
  }
}

/**
 * Training needs more than one value per channel (else the variance is undefined). `count` is the
 * number of values per channel over every worker (SyncBN passes the global count); shape is the local
 * input shape, for the message. Count 0 (empty batch) is allowed: there is nothing to normalize.
 */
export function checkTrainingCount(count: number, shape: readonly number[]): void {
  if (count === 1) throw new ValueError(`Expected more than 1 value per channel when training, got input size ${fmtShape(shape)}`);
}

/** Throw ValueError naming the first non-finite element of `x`; `op` prefixes the message. */
export function checkAllFinite(name: string, x: Float32Array, op = 'batchNorm'): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v - v !== 0) throw new ValueError(`${op}: ${name} must be finite (checkFinite is on), found ${v} at index ${i}`);
  }
}

function checkEps(eps: unknown): number {
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw new UsageError(`batchNorm: eps must be a finite number ≥ 0, received ${describe(eps)}`);
  return eps;
}

function checkMomentum(m: unknown): number | null {
  if (m === null) return null;
  if (typeof m !== 'number' || !Number.isFinite(m) || m < 0 || m > 1) throw new UsageError(`batchNorm: momentum must be a number in [0, 1] or null (cumulative average), received ${describe(m)}`);
  return m;
}

function checkOut(name: string, out: Float32Array | undefined, length: number): Float32Array {
  if (out === undefined) return new Float32Array(length);
  if (!(out instanceof Float32Array) || out.length !== length) throw new ShapeError(`batchNorm: ${name} must be a Float32Array of length ${length}, received ${describe(out)}`);
  return out;
}

// ---- the steps (SyncBN puts its collectives between them) -------------------------------------------

/** Step 1 (forward): this worker's count, mean and M2 per channel. */
export function bnLocalStats(x: Float32Array, g: BNGeom, k: KernelSet = kernels()): BNShardStats {
  const mean = new Float64Array(g.c);
  const m2 = new Float64Array(g.c);
  k.batchNormStats(mean, m2, x, g);
  return { count: g.n * g.s, mean, m2 };
}

/** Step 2 (forward): merge shard statistics (Chan) into the batch statistics. */
export function bnMergeStats(shards: readonly BNShardStats[], c: number, eps: number, k: KernelSet = kernels()): BNBatchStats {
  const mean = new Float64Array(c);
  const varBiased = new Float64Array(c);
  const varUnbiased = new Float64Array(c);
  const invstd = new Float64Array(c);
  const count = k.batchNormGatherStats(mean, varBiased, varUnbiased, invstd, shards, eps);
  return { count, mean, varBiased, varUnbiased, invstd };
}

/** Step 1 (backward): this worker's Σdy and Σdy·(x − μ) per channel (dy masked by y > 0 when y is given). */
export function bnBackwardReduce(dy: Float32Array, x: Float32Array, mean: Float64Array, g: BNGeom, y: Float32Array | null = null, k: KernelSet = kernels()): BNBackwardSums {
  const sumDy = new Float64Array(g.c);
  const sumDyXmu = new Float64Array(g.c);
  k.batchNormBackwardReduce(sumDy, sumDyXmu, dy, x, mean, g, y);
  return { sumDy, sumDyXmu };
}

/** dγ = Σdy·(x − μ)·invstd and dβ = Σdy, as float32 parameter gradients. */
export function bnParamGrads(sums: BNBackwardSums, invstd: Float64Array): { dWeight: Float32Array; dBias: Float32Array } {
  const c = invstd.length;
  const dWeight = new Float32Array(c);
  const dBias = new Float32Array(c);
  for (let ch = 0; ch < c; ch++) {
    dWeight[ch] = sums.sumDyXmu[ch]! * invstd[ch]!;
    dBias[ch] = sums.sumDy[ch]!;
  }
  return { dWeight, dBias };
}

// ---- convenience: one worker, whole batch ---------------------------------------------------------

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

/**
 * The collectives SyncBN puts between the steps (built by src/parallel from a process group); absent
 * ⇒ one worker. mergeStats replaces the one-shard merge (and checks the global count); reduceSums
 * turns this worker's backward sums into the global ones, in place.
 */
export interface BNExchange {
  mergeStats(local: BNShardStats, eps: number, k: KernelSet): BNBatchStats;
  reduceSums(sums: BNBackwardSums): void;
}

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

/** What the backward pass needs from a forward pass. */
export interface BNSaved {
  count: number;
  mean: Float64Array;
  invstd: Float64Array;
  /** false for eval mode: the statistics were constants, so no gradient flows through them */
  training: boolean;
}

export interface BatchNormTrainResult extends BNBatchStats {
  out: Float32Array;
  saved: BNSaved;
}

function common(x: Float32Array, o: BatchNormCommon): { g: BNGeom; eps: number; k: KernelSet } {
  if (typeof o !== 'object' || o === null) throw new UsageError(`batchNorm: options must be an object, received ${describe(o)}`);
  if (!(x instanceof Float32Array)) throw new UsageError(`batchNorm: input must be a Float32Array, received ${describe(x)}`);
  const g = bnGeom(o.shape, o.channelsLast ?? false, x.length);
  checkChannelParam('weight', o.weight, g.c);
  checkChannelParam('bias', o.bias, g.c);
  const eps = checkEps(o.eps ?? 1e-5);
  if (o.checkFinite === true) checkAllFinite('input', x);
  return { g, eps, k: o.kernels ?? kernels() };
}

/** Training-mode forward on one worker: batch statistics, normalized output, running-stat update. */
export function batchNormTrain(x: Float32Array, o: BatchNormTrainOptions): BatchNormTrainResult {
  const { g, eps, k } = common(x, o);
  const momentum = checkMomentum(o.momentum === undefined ? 0.1 : o.momentum);
  checkChannelParam('runningMean', o.runningMean, g.c);
  checkChannelParam('runningVar', o.runningVar, g.c);
  const hasRunning = o.runningMean != null || o.runningVar != null;
  if (hasRunning && (o.runningMean == null || o.runningVar == null)) throw new UsageError(`batchNorm: runningMean and runningVar go together, received only ${o.runningMean == null ? 'runningVar' : 'runningMean'}`);
  if (hasRunning && momentum === null && (!Number.isSafeInteger(o.numBatchesTracked) || o.numBatchesTracked! < 1)) {
    throw new UsageError(`batchNorm: numBatchesTracked must be an integer ≥ 1 (counting this batch) when momentum is null, received ${describe(o.numBatchesTracked)}`);
  }
  const out = checkOut('out', o.out, x.length);
  const local = bnLocalStats(x, g, k);
  const stats = o.exchange != null ? o.exchange.mergeStats(local, eps, k) : bnMergeStats([local], g.c, eps, k);
  // On the merged (with SyncBN: global) count, so a worker with 1 value or none may still train.
  checkTrainingCount(stats.count, o.shape);
  if (x.length > 0) k.batchNormElemt(out, x, stats.mean, stats.invstd, o.weight ?? null, o.bias ?? null, g, o.relu ?? false);
  if (hasRunning && stats.count > 0) k.batchNormUpdateRunning(o.runningMean!, o.runningVar!, stats.mean, stats.varUnbiased, momentum, o.numBatchesTracked ?? 1);
  return { ...stats, out, saved: { count: stats.count, mean: stats.mean, invstd: stats.invstd, training: true } };
}

export interface BatchNormEvalOptions extends BatchNormCommon {
  runningMean: Float32Array;
  runningVar: Float32Array;
}

/** Eval-mode forward: normalize with the running statistics. */
export function batchNormEval(x: Float32Array, o: BatchNormEvalOptions): { out: Float32Array; saved: BNSaved } {
  const { g, eps, k } = common(x, o);
  checkChannelParam('runningMean', o.runningMean, g.c, false);
  checkChannelParam('runningVar', o.runningVar, g.c, false);
  const out = checkOut('out', o.out, x.length);
  const mean = Float64Array.from(o.runningMean);
  const invstd = Float64Array.from(o.runningVar, (v) => 1 / Math.sqrt(v + eps));
  if (x.length > 0) k.batchNormElemt(out, x, mean, invstd, o.weight ?? null, o.bias ?? null, g, o.relu ?? false);
  return { out, saved: { count: g.n * g.s, mean, invstd, training: false } };
}

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

/** Backward on one worker: dx, dγ, dβ (plus the raw float64 sums). */
export function batchNormBackward(dy: Float32Array, x: Float32Array, saved: BNSaved, o: BatchNormBackwardOptions): BNBackwardSums & { dx: Float32Array; dWeight: Float32Array; dBias: Float32Array } {
  if (typeof o !== 'object' || o === null) throw new UsageError(`batchNorm: options must be an object, received ${describe(o)}`);
  if (!(x instanceof Float32Array)) throw new UsageError(`batchNorm: input must be a Float32Array, received ${describe(x)}`);
  const g = bnGeom(o.shape, o.channelsLast ?? false, x.length);
  if (!(dy instanceof Float32Array) || dy.length !== x.length) throw new ShapeError(`batchNorm: gradOutput must be a Float32Array of length ${x.length} (like the input), received ${describe(dy)}`);
  if (o.y != null && (!(o.y instanceof Float32Array) || o.y.length !== x.length)) throw new ShapeError(`batchNorm: y (the fused-ReLU output) must be a Float32Array of length ${x.length}, received ${describe(o.y)}`);
  checkChannelParam('weight', o.weight, g.c);
  if (!(saved.mean instanceof Float64Array) || saved.mean.length !== g.c || !(saved.invstd instanceof Float64Array) || saved.invstd.length !== g.c) {
    throw new ShapeError(`batchNorm: saved mean and invstd must be Float64Array of length ${g.c}, received ${describe(saved.mean)} and ${describe(saved.invstd)}`);
  }
  const k = o.kernels ?? kernels();
  const dx = checkOut('dx', o.dx, x.length);
  const y = o.y ?? null;
  const sums = bnBackwardReduce(dy, x, saved.mean, g, y, k);
  // dγ, dβ from this worker's sums: with SyncBN the data-parallel wrapper averages them like every gradient.
  const paramGrads = bnParamGrads(sums, saved.invstd);
  if (saved.training && o.exchange != null) o.exchange.reduceSums(sums);
  // Eval mode: μ and σ are constants, so dx = γ·invstd·dy (the kernel with zero sums gives exactly that).
  const zero = new Float64Array(g.c);
  const [sDy, sDyXmu] = saved.training ? [sums.sumDy, sums.sumDyXmu] : [zero, zero];
  if (x.length > 0) k.batchNormBackwardElemt(dx, dy, x, saved.mean, saved.invstd, o.weight ?? null, sDy, sDyXmu, saved.count, g, y);
  return { ...sums, dx, ...paramGrads };
}
