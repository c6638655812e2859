// Kernel backends (`reference` and `wasm`, one contract: types.ts) and the validated batch/group-norm pipelines.
export type * from './types.js';
export { referenceKernels, wasmKernels, kernels, setKernels } from './backend.js';
export * from './batchnorm.js';
export * from './batchnorm-arrays.js';
export * from './groupnorm.js';
