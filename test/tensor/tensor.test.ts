// Tensor: factories, shapes, seeded random numbers, views, dispose and the heap it returns memory to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';
import { RandomGenerator, manualSeed } from '../../src/tensor/random.js';
import { heapPointer, heapStats } from '../../src/kernels/wasm/heap.js';
import { ShapeError, UsageError } from '../../src/errors.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { batchNorm, conv2d, maxPool2d } from '../../src/nn/functional/index.js';

test('factories fill, infer nested shapes and validate counts', () => {
  assert.deepEqual(Tensor.zeros([2, 3]).toArray(), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(Tensor.ones([2]).toArray(), [1, 1]);
  assert.deepEqual(Tensor.full([1, 2], 2.5).toArray(), [2.5, 2.5]);
  const t = Tensor.from([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.deepEqual(t.shape, [2, 3]);
  assert.deepEqual(t.toArray(), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Tensor.from(new Float32Array([1, 2, 3, 4]), [2, 2]).shape, [2, 2]);
  assert.deepEqual(Tensor.arange(4).toArray(), [0, 1, 2, 3]);
  assert.deepEqual(Tensor.arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
  assert.deepEqual(Tensor.arange(3, 1).toArray(), []);
  assert.equal(Tensor.scalar(3).item(), 3);
  assert.deepEqual(Tensor.zeros([0, 3]).shape, [0, 3]);
  assert.equal(Tensor.zeros([0, 3]).size, 0);
  assert.throws(() => Tensor.from([1, 2, 3], [2, 2]), {
    name: 'ShapeError',
    message: 'Tensor.from: 3 values do not fill shape [2, 2] (4 elements)',
  });
  assert.throws(() => Tensor.zeros([2, -1]), {
    name: 'ShapeError',
    message: 'Tensor.empty: shape must be an array of non-negative integers, received [2, -1]',
  });
  assert.throws(() => Tensor.from([1, 'a']), UsageError);
  assert.throws(() => Tensor.from([1, 2]).item(), {
    message: 'item: tensor must have exactly one element, received shape [2]',
  });
});

test('data lives in the wasm heap; dispose returns it and later access is a StateError', () => {
  const before = heapStats().liveBytes;
  const t = Tensor.zeros([1000]);
  assert.ok(heapPointer(t.data) >= 0);
  assert.ok(heapStats().liveBytes > before);
  t.dispose();
  t.dispose(); // idempotent
  assert.equal(heapStats().liveBytes, before);
  assert.throws(() => t.data, { name: 'StateError', message: 'tensor [1000] is no longer usable: it was disposed' });
});

test('reshape views share storage; the storage lives until the last holder is disposed', () => {
  const before = heapStats().liveBytes;
  const a = Tensor.arange(6);
  const b = a.reshape([2, -1]);
  assert.deepEqual(b.shape, [2, 3]);
  assert.equal(heapPointer(a.data), heapPointer(b.data));
  a.dispose();
  assert.deepEqual(b.toArray(), [0, 1, 2, 3, 4, 5]);
  b.dispose();
  assert.equal(heapStats().liveBytes, before);
  assert.throws(() => Tensor.arange(6).reshape([4, -1]), {
    name: 'ShapeError',
    message: 'reshape: cannot reshape [6] (6 elements) to [4, -1]',
  });
  assert.throws(() => Tensor.arange(6).reshape([-1, -1]), ShapeError);
  assert.deepEqual(Tensor.zeros([2, 3, 4]).flatten(1).shape, [2, 12]);
  assert.deepEqual(Tensor.zeros([2, 3, 4]).flatten().shape, [24]);
});

test('seeded generators are deterministic, distinct per seed, and have the right moments', () => {
  const a = Tensor.randn([5], { generator: new RandomGenerator(7) }).toArray();
  const b = Tensor.randn([5], { generator: new RandomGenerator(7) }).toArray();
  const c = Tensor.randn([5], { generator: new RandomGenerator(8) }).toArray();
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  manualSeed(3);
  const u1 = Tensor.rand([4]).toArray();
  manualSeed(3);
  assert.deepEqual(Tensor.rand([4]).toArray(), u1);
  const g = new RandomGenerator(1);
  const n = 20000;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const x = g.normal();
    s += x;
    s2 += x * x;
  }
  assert.ok(Math.abs(s / n) < 0.03, `mean ${s / n}`);
  assert.ok(Math.abs(s2 / n - 1) < 0.04, `var ${s2 / n}`);
  const u = Tensor.rand([20000], { low: -2, high: 3, generator: g }).toArray();
  assert.ok(Math.min(...u) >= -2 && Math.max(...u) < 3);
  assert.ok(Math.abs(u.reduce((x, y) => x + y, 0) / u.length - 0.5) < 0.05);
  assert.throws(() => new RandomGenerator(NaN), { message: 'manualSeed: seed must be a finite number, received NaN' });
});

test('in-place ops bump the version; copy_ checks sizes', () => {
  const t = Tensor.zeros([3]);
  const v0 = t.version;
  t.fill_(2);
  assert.equal(t.version, v0 + 1);
  t.copy_(Tensor.from([1, 2, 3]));
  assert.deepEqual(t.toArray(), [1, 2, 3]);
  assert.throws(() => t.copy_(Tensor.zeros([2])), {
    name: 'ShapeError',
    message: 'copy_: source shape [2] does not match destination [3]',
  });
  assert.throws(() => Tensor.from([1]).add(Tensor.zeros([2])), ShapeError);
});

test('tensors nobody disposed (and graphs never backwarded) return their heap blocks when collected', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const settle = async (): Promise<void> => {
    // collect until the live bytes stop changing (earlier tests' garbage goes first)
    for (let i = 0, last = -1, same = 0; i < 100 && same < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 5));
      const now = heapStats().liveBytes;
      same = now === last ? same + 1 : 0;
      last = now;
    }
  };
  const work = (rounds: number): void => {
    for (let i = 0; i < rounds; i++) {
      const w = Tensor.randn([4, 2, 3, 3]).requiresGrad_();
      const x = Tensor.randn([2, 2, 6, 6]);
      // a forward graph with node-private buffers (argmax, BN statistics) that is never backwarded
      maxPool2d(batchNorm(conv2d(x, w), null, null, { training: true }), 2).sum();
    }
  };
  work(1); // kernels may keep a persistent scratch block from their first call
  await settle();
  const before = heapStats().liveBytes;
  work(20);
  assert.ok(heapStats().liveBytes > before);
  await settle();
  assert.equal(heapStats().liveBytes, before);
});
