// Autograd engine: gradients of composed ops, accumulation, noGrad, freeing the graph, typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';
import { noGrad } from '../../src/autograd/index.js';
import { heapStats } from '../../src/kernels/wasm/heap.js';

const close = (a: number[], b: number[], tol = 1e-6): void => {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `[${i}] ${x} vs ${b[i]}`));
};

test('gradients of sum(relu(a·b + a) − b)·0.5 are the analytic ones', () => {
  const a = Tensor.from([1, -2, 3, 0.5]).requiresGrad_();
  const b = Tensor.from([2, 0.5, -1, 4]).requiresGrad_();
  const y = a.mul(b).add(a).relu().sub(b).sum().mul(0.5);
  // h = a·b + a = [3, -3, 0, 2.5]; relu mask [1, 0, 0, 1] (0 at h = 0, as PyTorch)
  assert.ok(Math.abs(y.item() - 0.5 * (3 + 2.5 - (2 + 0.5 - 1 + 4))) < 1e-6);
  y.backward();
  close(a.grad!.toArray(), [0.5 * 3, 0, 0, 0.5 * 5]);
  close(b.grad!.toArray(), [0.5 * 1 - 0.5, -0.5, -0.5, 0.5 * 0.5 - 0.5]);
});

test('gradients accumulate across backward calls; a tensor used twice sums both paths', () => {
  const x = Tensor.from([1, 2, 3]).requiresGrad_();
  x.add(x).mean().backward();
  close(x.grad!.toArray(), [2 / 3, 2 / 3, 2 / 3]);
  x.mul(x).sum().backward();
  close(x.grad!.toArray(), [2 / 3 + 2, 2 / 3 + 4, 2 / 3 + 6]);
  const y = x.reshape([3, 1]).flatten().mul(3).sum();
  x.grad = null;
  y.backward();
  close(x.grad!.toArray(), [3, 3, 3]);
});

test('noGrad records nothing; backward on it is a StateError', () => {
  const x = Tensor.from([1, 2]).requiresGrad_();
  const y = noGrad(() => x.mul(2).sum());
  assert.equal(y.gradFn, null);
  assert.equal(y.requiresGrad, false);
  assert.throws(() => y.backward(), { name: 'StateError', message: /^backward: tensor \[\] does not require grad/ });
});

test('backward twice through a freed graph is a StateError; retainGraph allows it', () => {
  const x = Tensor.from([1, 2]).requiresGrad_();
  const loss = x.mul(x).sum();
  loss.backward();
  assert.throws(() => loss.backward(), {
    name: 'StateError',
    message:
      'backward: trying to backward through the graph a second time (SumBackward was freed by the previous ' +
      'backward()); pass { retainGraph: true } to the first backward() to do that',
  });
  const l2 = x.mul(x).sum();
  x.grad = null;
  l2.backward(undefined, { retainGraph: true });
  l2.backward();
  close(x.grad!.toArray(), [4, 8]);
});

test('intermediates are freed by backward unless kept; the root and leaves stay', () => {
  const x = Tensor.from([1, -1]).requiresGrad_();
  const h = x.mul(2);
  const k = x.mul(3).keep();
  const loss = h.add(k).relu().sum();
  loss.backward();
  assert.throws(() => h.data, {
    name: 'StateError',
    message:
      'tensor [2] is no longer usable: it was an intermediate of an autograd graph freed by backward(); call keep() ' +
      'on it before backward() to read it afterwards',
  });
  assert.deepEqual(k.toArray(), [3, -3]);
  assert.equal(loss.item(), 5);
  assert.deepEqual(x.toArray(), [1, -1]);
});

test('a saved tensor modified in place before backward is a StateError', () => {
  const a = Tensor.from([1, 2]).requiresGrad_();
  const b = Tensor.from([3, 4]);
  const y = a.mul(b).sum();
  b.fill_(0);
  assert.throws(() => y.backward(), {
    name: 'StateError',
    message: 'MulBackward: a tensor [2] saved for backward was modified in place (version 0 → 1) before backward()',
  });
});

test('non-scalar backward needs a grad of the same shape', () => {
  const x = Tensor.from([1, 2]).requiresGrad_();
  assert.throws(() => x.mul(2).backward(), {
    name: 'ShapeError',
    message: 'backward: a gradient can be implied only for a single-element output; pass grad for output shape [2]',
  });
  assert.throws(() => x.mul(2).backward(Tensor.zeros([3])), {
    name: 'ShapeError',
    message: 'backward: grad shape [3] does not match output shape [2]',
  });
  x.mul(2).backward(Tensor.from([1, 10]));
  close(x.grad!.toArray(), [2, 20]);
});

test('shape mismatches name both shapes', () => {
  const a = Tensor.zeros([2, 3]);
  assert.throws(() => a.add(Tensor.zeros([3, 2])), {
    name: 'ShapeError',
    message: 'add: shapes must match, received [2, 3] and [3, 2]',
  });
  assert.throws(() => a.mul(Tensor.zeros([6])), {
    name: 'ShapeError',
    message: 'mul: shapes must match, received [2, 3] and [6]',
  });
});

test('a loop of forward/backward/dispose does not grow the heap after the first step', () => {
  const w = Tensor.randn([64]).requiresGrad_();
  const x = Tensor.randn([64]);
  const step = (): void => {
    const loss = w.mul(x).relu().add(w).sum();
    loss.backward();
    loss.dispose();
    w.grad!.dispose();
    w.grad = null;
  };
  step();
  const r = heapStats().reservedBytes;
  const live = heapStats().liveBytes;
  for (let i = 0; i < 100; i++) step();
  assert.equal(heapStats().reservedBytes, r);
  assert.equal(heapStats().liveBytes, live);
});

test('an in-place change through a view (detach, reshape) is seen by backward: views share the version counter', () => {
  const a = Tensor.from([1, 2]).requiresGrad_();
  const b = Tensor.from([3, 4]);
  const y = a.mul(b).sum();
  b.detach().fill_(0);
  assert.throws(() => y.backward(), {
    name: 'StateError',
    message: 'MulBackward: a tensor [2] saved for backward was modified in place (version 0 → 1) before backward()',
  });
  const c = Tensor.from([3, 4]);
  const y2 = a.mul(c).sum();
  c.reshape([2, 1]).zero_();
  assert.throws(() => y2.backward(), { name: 'StateError' });
});
