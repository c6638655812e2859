// A small CNN trains from the public API: loss falls, state dict round-trips, the heap stops growing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor,
  Sequential,
  Conv2d,
  BatchNorm2d,
  ReLU,
  AdaptiveAvgPool2d,
  Flatten,
  Linear,
  SGD,
  crossEntropy,
  heapStats,
  RandomGenerator,
  noGrad,
} from '../../src/index.js';
import { builtBackends, withKernels } from '../helpers/backends.js';

function tinyCnn(seed: number): Sequential {
  const generator = new RandomGenerator(seed);
  return new Sequential(
    new Conv2d(3, 8, 3, { padding: 1, generator }),
    new BatchNorm2d(8),
    new ReLU(),
    new Conv2d(8, 8, 3, { padding: 1, generator }),
    new BatchNorm2d(8),
    new ReLU(),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(8, 4, { generator }),
  );
}

for (const k of builtBackends())
  test(`tiny CNN (${k.name} kernels): loss falls over SGD steps and the heap does not grow after the first step`, () =>
    withKernels(k, () => {
      const model = tinyCnn(1);
      const g = new RandomGenerator(2);
      const x = Tensor.randn([8, 3, 8, 8], { generator: g });
      const y = [0, 1, 2, 3, 0, 1, 2, 3];
      // make the classes learnable: shift channel 0 by the class
      for (let i = 0; i < 8; i++) for (let j = 0; j < 64; j++) x.data[i * 192 + j]! += y[i]!;
      const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
      const losses: number[] = [];
      const step = (): void => {
        opt.zeroGrad();
        const loss = crossEntropy(model.forward(x), y);
        loss.backward();
        opt.step();
        losses.push(loss.item());
        loss.dispose();
      };
      step();
      step();
      const reserved = heapStats().reservedBytes;
      const live = heapStats().liveBytes;
      for (let i = 0; i < 40; i++) step();
      assert.equal(heapStats().reservedBytes, reserved, 'heap grew during steady-state training');
      assert.equal(heapStats().liveBytes, live, 'live bytes grew during steady-state training');
      assert.ok(losses[losses.length - 1]! < 0.5 * losses[0]!, `loss ${losses[0]} → ${losses[losses.length - 1]}`);
      model.eval();
      const logits = noGrad(() => model.forward(x));
      assert.deepEqual(logits.shape, [8, 4]);
      assert.equal(logits.gradFn, null);
      logits.dispose();
    }));

test('stateDict names follow PyTorch and loadStateDict copies values in place', () => {
  const a = tinyCnn(1);
  const b = tinyCnn(2);
  const keys = Object.keys(a.stateDict());
  assert.deepEqual(keys.slice(0, 7), [
    '0.weight',
    '0.bias',
    '1.weight',
    '1.bias',
    '1.running_mean',
    '1.running_var',
    '1.num_batches_tracked',
  ]);
  assert.equal(a.parameters().length, 10);
  assert.notDeepEqual(a.stateDict()['0.weight']!.toArray(), b.stateDict()['0.weight']!.toArray());
  const w = b.stateDict()['0.weight']!;
  b.loadStateDict(a.stateDict());
  assert.equal(b.stateDict()['0.weight'], w);
  assert.deepEqual(w.toArray(), a.stateDict()['0.weight']!.toArray());
  const sd = { ...a.stateDict() };
  delete sd['8.bias'];
  sd['extra'] = Tensor.zeros([1]);
  assert.throws(() => b.loadStateDict(sd), {
    name: 'UsageError',
    message: 'loadStateDict: state dict does not match the module: missing keys [8.bias], unexpected keys [extra]',
  });
  assert.throws(() => b.loadStateDict({ ...a.stateDict(), '8.bias': Tensor.zeros([5]) }), {
    name: 'ShapeError',
    message: "loadStateDict: 8.bias: shape in state dict [5] does not match the module's [4]",
  });
});

test('the README example trains a CNN end to end from the public API (loss falls, eval fits the batch)', async () => {
  const { trainCnn } = await import('../../examples/train-cnn.js');
  const { losses, accuracy } = trainCnn(60);
  assert.ok(losses[59]! < 0.3 * losses[0]!, `loss ${losses[0]} → ${losses[59]}`);
  assert.ok(accuracy >= 0.75, `accuracy ${accuracy}`);
});

test(
  'an empty batch (N = 0) runs forward and backward: empty logits, NaN mean loss (as PyTorch), zero ' + 'gradients',
  () => {
    const model = tinyCnn(4);
    const x = Tensor.zeros([0, 3, 8, 8]);
    const out = model.forward(x).keep();
    assert.deepEqual(out.shape, [0, 4]);
    const loss = crossEntropy(out, []);
    assert.ok(Number.isNaN(loss.item()));
    loss.backward();
    for (const [n, p] of model.namedParameters())
      assert.ok(
        p.grad!.toArray().every((v) => v === 0),
        `${n}: ${p.grad!.toArray().slice(0, 4)}`,
      );
    // a batch of one sample in training mode is PyTorch's "more than 1 value per channel" error only when H·W = 1
    const one = model.forward(Tensor.randn([1, 3, 8, 8]));
    assert.deepEqual(one.shape, [1, 4]);
  },
);
