// Kernel backends (`reference` and `wasm`, one contract: types.ts) and the validated batch/group-norm pipelines.
export type * from './types.js';
export { referenceKernels, wasmKernels, kernels, setKernels } from './backend.js';
// The batch-norm pipeline's steps and the raw-array API (argument checks such as checkChannelParam stay internal).
export {
  bnGeom,
  bnStatsBuffers,
  bnLocalStats,
  bnMergeStats,
  bnBatchStats,
  bnUpdateRunning,
  bnBackwardReduce,
  bnParamGrads,
  bnBackward,
  type BNShardStats,
  type BNStats,
  type BNBackwardSums,
  type BNSaved,
  type BNExchange,
  type BNLocalFailure,
  type BNGrads,
} from './batchnorm.js';
export {
  batchNormTrain,
  batchNormEval,
  batchNormBackward,
  type BatchNormCommon,
  type BatchNormTrainOptions,
  type BatchNormTrainResult,
  type BatchNormEvalOptions,
  type BatchNormBackwardOptions,
  type BatchNormBackwardResult,
} from './batchnorm-arrays.js';
export { gnGeom, groupNormParamGrads } from './groupnorm.js';
