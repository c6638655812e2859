// The tiny CNN, started from PyTorch's weights, matches PyTorch's losses and every parameter and buffer after 5 SGD steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor, SGD, crossEntropy, heapStats,
} from '../../src/index.js';
import { builtBackends, withKernels } from '../helpers/backends.js';
import { TinyCNN } from '../helpers/tiny_cnn.js';
import { assertClose, fixture } from '../helpers/close.js';

interface CnnFixture {
  x: { shape: number[]; data: number[] };
  y: number[];
  sgd: { lr: number; momentum: number; weightDecay: number };
  init: Record<string, number[]>;
  losses: number[];
  after: Record<string, number[]>;
}
const fx = fixture<CnnFixture>('stack/tiny_cnn.json');

for (const k of builtBackends()) {
  test(`tiny CNN from PyTorch's weights matches its losses and parameters after 5 SGD-momentum steps within 1e-4 (${k.name} kernels)`, () => withKernels(k, () => {
    const m = new TinyCNN();
    const shapes = Object.fromEntries(Object.entries(m.stateDict()).map(([n, t]) => [n, t.shape]));
    m.loadStateDict(Object.fromEntries(Object.entries(fx.init).map(([n, v]) => [n, Tensor.from(v, shapes[n])])));
    const x = Tensor.from(fx.x.data, fx.x.shape);
    const opt = new SGD(m.parameters(), fx.sgd);
    const losses: number[] = [];
    let reserved = 0;
    for (let s = 0; s < 5; s++) {
      opt.zeroGrad();
      const loss = crossEntropy(m.forward(x), fx.y);
      loss.backward();
      opt.step();
      losses.push(loss.item());
      loss.dispose();
      if (s === 1) reserved = heapStats().reservedBytes;
    }
    assert.equal(heapStats().reservedBytes, reserved);
    assertClose(losses, fx.losses, 1e-4, 'losses');
    const sd = m.stateDict();
    assert.deepEqual(Object.keys(sd), Object.keys(fx.after));
    for (const [n, v] of Object.entries(fx.after)) assertClose(sd[n]!.data, v, 1e-4, n);
    // negative control: one more step moves the parameters away from PyTorch's 5-step values
    opt.zeroGrad();
    const loss = crossEntropy(m.forward(x), fx.y);
    loss.backward();
    opt.step();
    assert.throws(() => assertClose(sd['conv1.weight']!.data, fx.after['conv1.weight']!, 1e-4, 'conv1.weight'));
    m.dispose();
    opt.dispose();
  }));
}
