// Data-parallel public API: SyncBatchNorm and its conversions, DistributedDataParallel, DistributedSampler, the demo
// dataset.
export { SyncBatchNorm, type SyncBatchNormOptions } from './syncbn.js';
export { convertSyncBatchNorm, revertSyncBatchNorm, createSyncBNProcessGroup, nameSyncLayers } from './convert.js';
export { DistributedDataParallel, type DistributedDataParallelOptions } from './ddp.js';
export { DistributedSampler, type DistributedSamplerOptions } from './sampler.js';
export { syncBatchNormTrain, syncBatchNormBackward } from './exchange.js';
export {
  exchangeForwardStats,
  exchangeBackwardSums,
  reportForwardFailure,
  syncExchange,
  type SyncSite,
} from './sync-stats.js';
