// Optimizers (SGD, AdamW) and learning-rate schedules (poly, cosine), with PyTorch's update rules.
export { Optimizer, type ParamGroup, type ParamsArg } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { PolyLR, CosineAnnealingLR } from './schedule.js';
