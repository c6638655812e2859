// Kernel backends: `reference` (plain TypeScript) and `wasm` (WebAssembly SIMD) share one contract (types.ts).
import type { KernelSet } from './types.js';
import { batchNormRef } from './ref/batchnorm.js';
import { groupNormRef } from './ref/groupnorm.js';
import { nnRef } from './ref/nn.js';
import { batchNormWasm } from './wasm/batchnorm.js';
import { groupNormWasm } from './wasm/groupnorm.js';
import { nnWasm } from './wasm/nn.js';

export type * from './types.js';

// Object.assign over the prototype-less tables keeps each method bound to nothing (kernels are free functions).
function compose(name: KernelSet['name'], ...parts: object[]): KernelSet {
  const set = { name } as KernelSet;
  for (const p of parts) {
    for (const key of Object.keys(p)) (set as unknown as Record<string, unknown>)[key] = (p as Record<string, unknown>)[key];
  }
  return set;
}

/** Plain TypeScript kernels: float64 math, clarity first; the twin every fast kernel is tested against. */
export const referenceKernels: KernelSet = compose('reference', batchNormRef, groupNormRef, nnRef);
/** WebAssembly SIMD kernels: the default. */
export const wasmKernels: KernelSet = compose('wasm', batchNormWasm, groupNormWasm, nnWasm);

let active: KernelSet = wasmKernels;
/** The backend layers use. */
export function kernels(): KernelSet {
  return active;
}
/** Switch the backend (e.g. to the reference for float64-style debugging). Returns the previous one. */
export function setKernels(k: KernelSet): KernelSet {
  const prev = active;
  active = k;
  return prev;
}
// The raw-array batch-norm and group-norm API (argument checks such as checkChannelParam stay internal).
export {
  bnGeom, bnLocalStats, bnMergeStats, bnBackwardReduce, bnParamGrads, batchNormTrain, batchNormEval, batchNormBackward,
  type BNShardStats, type BNBatchStats, type BNBackwardSums, type BatchNormCommon, type BNExchange,
  type BatchNormTrainOptions, type BNSaved, type BatchNormTrainResult, type BatchNormEvalOptions,
  type BatchNormBackwardOptions,
} from './batchnorm.js';
export { gnGeom, groupNormParamGrads } from './groupnorm.js';
