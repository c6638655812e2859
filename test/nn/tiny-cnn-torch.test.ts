// The tiny CNN, started from PyTorch's weights, matches PyTorch's losses and every parameter and buffer after 5
// SGD steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, SGD, crossEntropy, heapStats } from '../../src/index.js';
import { builtBackends, withKernels } from '../helpers/backends.js';
import { TinyCNN } from '../helpers/tiny-cnn.js';
import { assertMixed, fixture, type Tolerance } from '../helpers/close.js';

interface CnnFixture {
  x: { shape: number[]; data: number[] };
  y: number[];
  sgd: { lr: number; momentum: number; weightDecay: number };
  init: Record<string, number[]>;
  losses: number[];
  after: Record<string, number[]>;
}
const fx = fixture<CnnFixture>('stack/tiny_cnn.json');

/**
 * Our float32 steps against PyTorch's float32 steps from the same weights: the two sum in different orders
 * (each ~1e-7 relative per reduction of a few thousand terms), and 5 SGD-momentum steps carry those
 * differences on. Measured: the worst element sits at 1e-6 relative + 1e-7 of the tensor's scale, so 5e-6 and
 * 5e-7 leave 5× room, while a biased running variance (N/(N−1) − 1 = 1/8191 per update, ≈ 5e-5 on running_var
 * after 5 updates at momentum 0.1) lands ~10× outside.
 */
function tol(expected: ArrayLike<number>): Tolerance {
  let m = 0;
  for (let i = 0; i < expected.length; i++) m = Math.max(m, Math.abs(expected[i]!));
  return { rtol: 5e-6, atol: 5e-7 * m };
}

for (const k of builtBackends()) {
  test(
    `tiny CNN from PyTorch's weights matches its losses and parameters after 5 SGD-momentum steps (per element: ` +
      `5e-6 relative + 5e-7 of the tensor's scale) (${k.name} kernels)`,
    () =>
      withKernels(k, () => {
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
        assertMixed(losses, fx.losses, tol(fx.losses), 'losses');
        const sd = m.stateDict();
        assert.deepEqual(Object.keys(sd), Object.keys(fx.after));
        for (const [n, v] of Object.entries(fx.after)) assertMixed(sd[n]!.data, v, tol(v), n);
        // negative control: one more step moves the parameters away from PyTorch's 5-step values
        opt.zeroGrad();
        const loss = crossEntropy(m.forward(x), fx.y);
        loss.backward();
        opt.step();
        assert.throws(() =>
          assertMixed(
            sd['conv1.weight']!.data,
            fx.after['conv1.weight']!,
            tol(fx.after['conv1.weight']!),
            'conv1.weight',
          ),
        );
        m.dispose();
        opt.dispose();
      }),
  );
}
