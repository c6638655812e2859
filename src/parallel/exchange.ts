// SyncBN on raw arrays: the raw-array batch-norm functions with the SyncBN exchange of a group and a layer name.
import {
  batchNormBackward,
  batchNormTrain,
  type BatchNormBackwardOptions,
  type BatchNormBackwardResult,
  type BatchNormTrainOptions,
  type BatchNormTrainResult,
} from '../kernels/batchnorm-arrays.js';
import type { BNSaved } from '../kernels/batchnorm.js';
import { syncExchange, type SyncSite } from './sync-stats.js';

/**
 * Training forward with the statistics of every rank of `site.group`: local stats → one all-gather
 * → exact merge → normalize (and running statistics from the global mean and unbiased variance).
 * If this rank fails before the exchange (bad input, say), it still joins the exchange with a
 * failure marker, so every other rank fails at once naming this layer and this rank.
 */
export function syncBatchNormTrain(x: Float32Array, o: BatchNormTrainOptions, site: SyncSite): BatchNormTrainResult {
  return batchNormTrain(x, { ...o, exchange: syncExchange(site) });
}

/** Training backward: local Σdy, Σdy·(x−μ) → one all-reduce → dx. dγ, dβ stay local (DDP averages them). */
export function syncBatchNormBackward(
  dy: Float32Array,
  x: Float32Array,
  saved: BNSaved,
  o: BatchNormBackwardOptions,
  site: SyncSite,
): BatchNormBackwardResult {
  return batchNormBackward(dy, x, saved, { ...o, exchange: syncExchange(site) });
}
