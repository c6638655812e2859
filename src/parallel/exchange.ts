// SyncBN over the validated batch-norm functions: a BNExchange bound to a group and a layer name, with failure reporting.
import type { BNExchange, BatchNormBackwardOptions, BatchNormTrainOptions, BatchNormTrainResult, BNSaved } from '../kernels/batchnorm.js';
import { batchNormBackward, batchNormTrain } from '../kernels/batchnorm.js';
import { exchangeBackwardSums, exchangeForwardStats, reportForwardFailure, type SyncSite } from './sync-stats.js';

/** A BNExchange for one layer call: the forward all-gather and the backward all-reduce under the layer's tag. */
export function syncExchange(site: SyncSite): BNExchange & { readonly joined: boolean } {
  let joined = false;
  return {
    get joined(): boolean {
      return joined;
    },
    mergeStats(local, eps, k) {
      joined = true;
      return exchangeForwardStats(site, k, local.count, local.mean, local.m2, eps);
    },
    reduceSums(sums) {
      exchangeBackwardSums(site, sums.sumDy, sums.sumDyXmu);
    },
  };
}

/**
 * Training forward with the statistics of every rank of `site.group`: local stats → one all-gather
 * → exact merge → normalize (and running statistics from the global mean and unbiased variance).
 * If this rank fails before the exchange (bad input, say), it still joins the exchange with a
 * failure marker, so every other rank fails at once naming this layer and this rank.
 */
export function syncBatchNormTrain(x: Float32Array, o: BatchNormTrainOptions, site: SyncSite): BatchNormTrainResult {
  const exchange = syncExchange(site);
  try {
    return batchNormTrain(x, { ...o, exchange });
  } catch (e) {
    if (!exchange.joined) reportForwardFailure(site, e);
    throw e;
  }
}

/** Training backward: local Σdy, Σdy·(x−μ) → one all-reduce → dx. dγ, dβ stay local (DDP averages them). */
export function syncBatchNormBackward(
  dy: Float32Array, x: Float32Array, saved: BNSaved, o: BatchNormBackwardOptions, site: SyncSite,
): ReturnType<typeof batchNormBackward> {
  return batchNormBackward(dy, x, saved, { ...o, exchange: saved.training ? syncExchange(site) : null });
}
