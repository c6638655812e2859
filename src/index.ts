// syncbn public API: kernels, tensors, collectives, the training stack, SyncBatchNorm and data-parallel training.
export * from './errors.js';
export * from './kernels/index.js';
export * from './comm/index.js';
export * from './tensor/index.js';
export * from './autograd/index.js';
export * from './nn/index.js';
export * from './optim/index.js';
export * from './io/index.js';
export * from './parallel/index.js';
export * from './data/index.js';
export * from './models/index.js';
export * from './io/npy.js';
export * from './onnx/index.js';
