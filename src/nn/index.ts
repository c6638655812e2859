// nn public API: Module, layers, functional ops, losses, initializers (activations are NCHW, like PyTorch).
export { Module, type StateDict } from './module.js';
export { Conv2d, Linear, type Conv2dLayerOptions } from './layers/conv.js';
export {
  BatchNorm,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  type BatchNormLayerOptions,
  type BatchNormForwardOptions,
} from './layers/batchnorm.js';
export { GroupNorm, type GroupNormLayerOptions } from './layers/groupnorm.js';
export { ReLU, Identity, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Upsample, Dropout, Flatten } from './layers/basic.js';
export { Sequential, type TensorModule } from './layers/sequential.js';
export { conv2d, type Conv2dOptions } from './functional/conv.js';
export { linear } from './functional/linear.js';
export { maxPool2d, avgPool2d, adaptiveAvgPool2d, type Pool2dOptions } from './functional/pool.js';
export { upsampleBilinear, concat, dropout } from './functional/shape-ops.js';
export { batchNorm, type BatchNormOptions } from './functional/batchnorm.js';
export { groupNorm, type GroupNormOptions } from './functional/groupnorm.js';
export { crossEntropy, type CrossEntropyOptions, type Target } from './functional/loss.js';
export * as init from './init.js';
