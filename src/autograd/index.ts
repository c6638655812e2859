// Autograd public API: grad-mode scopes, the node base class for custom ops, elementwise ops.
export { noGrad, isGradEnabled, setGradEnabled, Node, needsGrad, record } from './node.js';
export type { BackwardOptions } from './engine.js';
export { add, sub, mul, relu, sum, mean, reshape, flatten } from './ops.js';
