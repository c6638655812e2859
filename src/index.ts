// syncbn public API: kernels, tensors, collectives, the training stack, SyncBatchNorm and data-parallel training.
export * from './errors.js';
export * from './kernels/index.js';
export * from './comm/index.js';
