// Sequential: children named "0", "1", … applied in order; BatchNorm → ReLU runs fused; noGrad frees intermediates as
// it goes.
import { type Tensor } from '../../tensor/tensor.js';
import { isGradEnabled } from '../../autograd/node.js';
import { Module } from '../module.js';
import { BatchNorm } from './batchnorm.js';
import { ReLU } from './basic.js';

/** A module whose forward maps one tensor to one tensor. */
export interface TensorModule extends Module {
  forward(x: Tensor): Tensor;
}

export class Sequential extends Module {
  private cached: TensorModule[] | null = null; // the children in order; rebuilt after a change (e.g. BN → SyncBN)
  constructor(...layers: TensorModule[]) {
    super();
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }
  protected override childrenChanged(): void {
    this.cached = null;
  }
  private get layers(): TensorModule[] {
    return (this.cached ??= [...this.children()] as TensorModule[]);
  }
  get length(): number {
    return this.layers.length;
  }
  /** The i-th child (0-based), like `seq[i]` in PyTorch. */
  at(i: number): TensorModule {
    return this.layers[i]!;
  }
  forward(input: Tensor): Tensor {
    const layers = this.layers;
    // Under noGrad no op saves its inputs, so an intermediate is garbage once the next layer has run:
    // free it now (evaluation then runs in the memory of two activations, not the whole net).
    const freeAsWeGo = !isGradEnabled();
    let x = input;
    for (let i = 0; i < layers.length; i++) {
      const m = layers[i]!;
      const next = layers[i + 1];
      const prev = x;
      // BN → ReLU: one pass, and backward masks dy with the output (the same numbers as two layers).
      if (m instanceof BatchNorm && next !== undefined && next.constructor === ReLU) {
        x = m.forward(x, { fuseRelu: true });
        i++;
      } else x = m.forward(x);
      if (freeAsWeGo && prev !== input && prev !== x) prev.dispose();
    }
    return x;
  }
}
