// The root API's host-independent part: what the package root exports and the browser build (src/web) exports too.
// Errors: the typed hierarchy every function throws.
export {
  SyncbnError,
  UsageError,
  ShapeError,
  ValueError,
  StateError,
  IOError,
  CommError,
  CommTimeoutError,
  PeerDiedError,
  CollectiveMismatchError,
  AuthError,
} from './errors.js';

// Tensors, grad mode, seeded randomness, memory.
export { Tensor } from './tensor/tensor.js';
export { tidy } from './tensor/tidy.js';
export type { Shape } from './tensor/shape.js';
export { RandomGenerator, defaultGenerator, manualSeed, type RandomGeneratorState } from './tensor/random.js';
export { heapStats, type HeapStats } from './kernels/wasm/heap.js';
export { noGrad, isGradEnabled, setGradEnabled } from './autograd/node.js';
export type { BackwardOptions } from './autograd/engine.js';

// Layers and losses.
export { Module, type StateDict } from './nn/module.js';
export { Sequential, type TensorModule } from './nn/layers/sequential.js';
export { Conv2d, Linear, type Conv2dLayerOptions } from './nn/layers/conv.js';
export {
  BatchNorm,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  type BatchNormLayerOptions,
  type BatchNormForwardOptions,
} from './nn/layers/batchnorm.js';
export { GroupNorm, type GroupNormLayerOptions } from './nn/layers/groupnorm.js';
export {
  ReLU,
  Identity,
  MaxPool2d,
  AvgPool2d,
  AdaptiveAvgPool2d,
  Upsample,
  Dropout,
  Flatten,
} from './nn/layers/basic.js';
export { crossEntropy, type CrossEntropyOptions, type Target } from './nn/functional/loss.js';
/** Functional ops (torch.nn.functional): `F.conv2d`, `F.batchNorm`, `F.relu`, … */
export * as F from './nn/functional/index.js';
/** Weight initializers (torch.nn.init): `init.kaimingUniform_`, `init.normal_`, … */
export * as init from './nn/init.js';

// Optimizers and learning-rate schedules.
export { Optimizer, type ParamGroup, type ParamsArg } from './optim/optimizer.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export { AdamW, type AdamWOptions } from './optim/adamw.js';
export { PolyLR, CosineAnnealingLR } from './optim/schedule.js';

// Data-parallel training: SyncBatchNorm, DDP, the sampler, process groups.
export { SyncBatchNorm, type SyncBatchNormOptions } from './parallel/syncbn.js';
export { convertSyncBatchNorm, revertSyncBatchNorm, createSyncBNProcessGroup } from './parallel/convert.js';
export { DistributedDataParallel, type DistributedDataParallelOptions } from './parallel/ddp.js';
export { DistributedSampler, type DistributedSamplerOptions } from './parallel/sampler.js';
export type { ProcessGroup, ReduceOp } from './comm/types.js';
export { initProcessGroup, type InitOptions } from './comm/init.js';

// The model registry.
export { createModel } from './models/index.js';
