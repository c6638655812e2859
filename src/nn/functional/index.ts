// torch.nn.functional's counterpart: stateless ops on Tensors, exported from the root as the namespace `F`.
export { conv2d, type Conv2dOptions } from './conv.js';
export { linear } from './linear.js';
export { maxPool2d, avgPool2d, adaptiveAvgPool2d, type Pool2dOptions } from './pool.js';
export type { Pair } from './args.js';
export { upsampleBilinear, concat, dropout } from './shape-ops.js';
export { batchNorm, type BatchNormOptions } from './batchnorm.js';
export { groupNorm, type GroupNormOptions } from './groupnorm.js';
export { crossEntropy, type CrossEntropyOptions, type Target } from './loss.js';
export { relu, flatten, reshape, add, sub, mul, sum, mean } from '../../autograd/ops.js';
