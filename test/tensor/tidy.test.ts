// tidy(): tensors created in the scope are freed unless returned, in a graph, kept, or persistent (params, buffers,
// optimizer state, grads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor,
  tidy,
  heapStats,
  noGrad,
  Module,
  Conv2d,
  BatchNorm2d,
  Linear,
  SGD,
  crossEntropy,
  RandomGenerator,
} from '../../src/index.js';
import { relu, flatten, adaptiveAvgPool2d } from '../../src/nn/functional/index.js';

class Net extends Module {
  conv = this.registerModule('conv', new Conv2d(3, 4, 3, { padding: 1, generator: new RandomGenerator(1) }));
  bn = this.registerModule('bn', new BatchNorm2d(4));
  fc = this.registerModule('fc', new Linear(4, 3, { generator: new RandomGenerator(2) }));
  forward(x: Tensor): Tensor {
    return this.fc.forward(flatten(adaptiveAvgPool2d(relu(this.bn.forward(this.conv.forward(x))), 1), 1));
  }
}

test('evaluation of a custom module inside tidy leaves only the returned tensor', () => {
  const net = new Net().eval();
  const x = Tensor.randn([2, 3, 6, 6]);
  tidy(() => noGrad(() => net.forward(x))).dispose(); // warm-up (kernel scratch)
  const before = heapStats().liveBytes;
  const out = tidy(() => noGrad(() => net.forward(x)));
  assert.deepEqual(out.shape, [2, 3]);
  assert.equal(out.isDisposed, false);
  out.dispose();
  assert.equal(heapStats().liveBytes, before);
  assert.equal(x.isDisposed, false);
});

test('returned structures survive and move to the enclosing tidy; Promises are refused', () => {
  let inner: Tensor | null = null;
  const r = tidy(() => {
    const got = tidy(() => {
      const a = Tensor.ones([2]);
      Tensor.zeros([3]); // garbage
      return { a, list: [a.mul(2)] };
    });
    inner = got.a;
    return got.list[0]!;
  });
  assert.deepEqual(r.toArray(), [2, 2]);
  assert.equal(inner!.isDisposed, true); // returned by the inner scope, not by the outer one
  assert.throws(() => tidy(() => Promise.resolve(1)), { name: 'UsageError', message: /^tidy: fn must be synchronous/ });
});

test(
  'a training loop inside tidy keeps parameters, buffers, gradients and optimizer state, and the heap stays ' + 'flat',
  () => {
    const net = tidy(() => new Net()); // parameters created inside survive
    const opt = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9 });
    const x = Tensor.randn([4, 3, 6, 6]);
    const losses: number[] = [];
    const step = (): void =>
      tidy(() => {
        opt.zeroGrad();
        const loss = crossEntropy(net.forward(x), [0, 1, 2, 0]);
        loss.backward();
        opt.step();
        losses.push(loss.item());
        const manual = Tensor.zeros([1]); // a user-assigned gradient is persistent too
        const spare = Tensor.zeros([1]).requiresGrad_();
        spare.grad = manual;
        assert.equal(manual.persistent, true);
      });
    step();
    step();
    const reserved = heapStats().reservedBytes;
    for (let i = 0; i < 20; i++) step();
    assert.equal(heapStats().reservedBytes, reserved);
    assert.ok(net.parameters().every((p) => !p.isDisposed && p.grad !== null && !p.grad.isDisposed));
    assert.ok(net.buffers().every((b) => !b.isDisposed));
    assert.ok(losses[21]! < losses[0]!);
  },
);
