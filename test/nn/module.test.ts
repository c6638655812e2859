// Module.setTensor (and the library's replaceTensor): the registry and the layer's field swap together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/index.js';
import { Module, replaceTensor } from '../../src/nn/module.js';

class Affine extends Module {
  readonly scale: Tensor | null;
  readonly shift: Tensor | null;
  readonly count: Tensor;
  constructor(withShift: boolean) {
    super();
    this.scale = this.registerParameter('scale', Tensor.ones([3]));
    this.shift = this.registerParameter('shift', withShift ? Tensor.zeros([3]) : null);
    this.count = this.registerBuffer('count', Tensor.zeros([]))!;
  }
  forward(x: Tensor): Tensor {
    return x.mul(this.scale!);
  }
}

test('replaceTensor swaps the registry entry and the field that held the old tensor, and returns the old one', () => {
  const m = new Affine(true);
  const oldScale = m.scale!;
  const scale = Tensor.from([1, 2, 3]);
  assert.equal(replaceTensor(m, 'scale', scale), oldScale);
  assert.equal(m.scale, scale);
  assert.equal(m.stateDict()['scale'], scale);
  assert.deepEqual(m.parameters(), [scale, m.shift]);
  assert.equal(scale.requiresGrad, true);
  assert.equal(scale.persistent, true);
  assert.equal(oldScale.isDisposed, false);
  const oldCount = m.count;
  const count = Tensor.scalar(7);
  assert.equal(replaceTensor(m, 'count', count), oldCount);
  assert.equal(m.count, count);
  assert.equal(m.stateDict()['count'], count);
  assert.equal(count.requiresGrad, false);
  replaceTensor(m, 'shift', null);
  assert.equal(m.shift, null);
  assert.deepEqual(m.parameters(), [scale]);
});

test('replaceTensor: unknown name → UsageError, a slot registered absent → StateError, the same tensor → no-op', () => {
  const m = new Affine(false);
  assert.throws(() => replaceTensor(m, 'bias', null), {
    name: 'UsageError',
    message: 'setTensor: no parameter or buffer named "bias"',
  });
  assert.throws(() => replaceTensor(m, 'shift', Tensor.zeros([3])), {
    name: 'StateError',
    message: 'setTensor: "shift" was registered as absent (null), so it cannot be set',
  });
  assert.equal(replaceTensor(m, 'shift', null), null);
  assert.equal(replaceTensor(m, 'scale', m.scale), m.scale);
});
