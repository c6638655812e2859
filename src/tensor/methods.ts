// Tensor's differentiable methods as installed by the autograd layer (which imports this one, never the reverse).
import { StateError } from '../errors.js';
import type { BackwardOptions } from '../autograd/engine.js';
import type { Tensor } from './tensor.js';

/**
 * The differentiable methods of Tensor (reshape, add, …, backward) are implemented by the autograd layer,
 * which sits above this one: it installs them here when it loads (src/autograd/ops.ts, engine.ts), so the
 * imports run one way (autograd → tensor) and no module cycle exists.
 */
export interface TensorAutograd {
  reshape(x: Tensor, shape: readonly number[]): Tensor;
  flatten(x: Tensor, startDim: number, endDim: number): Tensor;
  add(a: Tensor, b: Tensor): Tensor;
  sub(a: Tensor, b: Tensor): Tensor;
  mul(a: Tensor, b: Tensor | number): Tensor;
  relu(x: Tensor): Tensor;
  sum(x: Tensor): Tensor;
  mean(x: Tensor): Tensor;
  backward(root: Tensor, grad: Tensor | undefined, opts: BackwardOptions): void;
}
const autograd: Partial<TensorAutograd> = {};

/** Called by the autograd layer when it loads. @internal */
export function installAutograd(methods: Partial<TensorAutograd>): void {
  Object.assign(autograd, methods);
}

/** The installed implementation of Tensor's method `name`; a StateError while autograd is not loaded. */
export function method<K extends keyof TensorAutograd>(name: K): TensorAutograd[K] {
  const f = autograd[name];
  if (f === undefined) {
    const fix = "import the package root ('syncbn') or src/autograd/index.js";
    throw new StateError(`Tensor.${name}: the autograd layer is not loaded; ${fix}`);
  }
  return f;
}
