// GroupNorm layer and functional op from the package root: PyTorch fixtures, finite differences, state dict, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Conv2d,
  GroupNorm,
  RandomGenerator,
  ReLU,
  SGD,
  Sequential,
  Tensor,
  crossEntropy,
  heapStats,
  noGrad,
  ShapeError,
  UsageError,
} from '../../src/index.js';
import { groupNorm } from '../../src/nn/functional/index.js';
import { builtBackends, withKernels } from '../helpers/backends.js';
import { throwsLike } from '../helpers/errors.js';
import { GN_FIXTURES, assertMixed, groupNormF64, maxAbs } from '../helpers/groupnorm.js';

for (const K of builtBackends()) {
  test(`GroupNorm layer matches PyTorch: forward, dx, dγ, dβ (${K.name} kernels)`, () =>
    withKernels(K, () => {
      for (const f of GN_FIXTURES) {
        const label = `[${f.shape}] G=${f.groups} (${f.note})`;
        const gn = new GroupNorm(f.groups, f.shape[1]!, { eps: f.eps, affine: f.affine });
        if (f.affine) {
          gn.weight!.data.set(f.weight!);
          gn.bias!.data.set(f.bias!);
        }
        const x = Tensor.from(f.x, f.shape).requiresGrad_();
        const y = gn.forward(x);
        assert.deepEqual(y.shape, f.shape);
        // tolerances as in test/kernels/groupnorm.test.ts: float32 passes vs PyTorch's float64 answer
        assertMixed(y.data, f.y, 1e-6, 1e-6, `${label} y`);
        y.backward(Tensor.from(f.dy, f.shape));
        const dxScale = maxAbs(f.invstd) * (f.weight === null ? 1 : maxAbs(f.weight)) * maxAbs(f.dy);
        assertMixed(x.grad!.data, f.dx, 1e-6 * dxScale, 1e-6, `${label} dx`);
        if (f.affine) {
          assertMixed(gn.weight!.grad!.data, f.dWeight!, 1e-6 * maxAbs(f.dWeight!), 1e-6, `${label} dWeight`);
          assertMixed(gn.bias!.grad!.data, f.dBias!, 1e-6 * maxAbs(f.dBias!), 1e-6, `${label} dBias`);
        }
      }
    }));

  test(`groupNorm gradients agree with float64 central differences (${K.name} kernels)`, () =>
    withKernels(K, () => {
      const gen = new RandomGenerator(11);
      // loss = Σ r·y with fixed random r; shapes: C % 4 ≠ 0 with odd spatial, one-channel groups, rank 2
      for (const [shape, groups] of [
        [[2, 6, 3, 5], 3],
        [[3, 4, 7], 4],
        [[4, 6], 2],
      ] as Array<[number[], number]>) {
        const c = shape[1]!;
        const size = shape.reduce((a, b) => a * b, 1);
        const x0 = Tensor.randn(shape, { generator: gen, mean: 0.5, std: 2 }).toFloat32Array();
        const w0 = Tensor.randn([c], { generator: gen, mean: 1, std: 0.5 }).toFloat32Array();
        const b0 = Tensor.randn([c], { generator: gen }).toFloat32Array();
        const r = Tensor.randn(shape, { generator: gen }).toFloat32Array();
        const eps = 1e-3;
        const x = Tensor.from(x0, shape).requiresGrad_();
        const w = Tensor.from(w0, [c]).requiresGrad_();
        const b = Tensor.from(b0, [c]).requiresGrad_();
        groupNorm(x, groups, w, b, { eps }).backward(Tensor.from(r, shape));
        const p = { x: Float64Array.from(x0), w: Float64Array.from(w0), b: Float64Array.from(b0) };
        const loss = (): number => {
          const y = groupNormF64(p.x, shape, groups, eps, p.w, p.b);
          let s = 0;
          for (let i = 0; i < size; i++) s += y[i]! * r[i]!;
          return s;
        };
        const h = 1e-6;
        const params = [
          ['x', p.x, x.grad!],
          ['weight', p.w, w.grad!],
          ['bias', p.b, b.grad!],
        ] as const;
        for (const [name, arr, grad] of params) {
          const scale = maxAbs(grad.data);
          assert.ok(scale > 0, `${name}: zero gradient`);
          for (let i = 0; i < arr.length; i++) {
            const v = arr[i]!;
            arr[i] = v + h;
            const up = loss();
            arr[i] = v - h;
            const down = loss();
            arr[i] = v;
            const fd = (up - down) / (2 * h);
            const what = `[${shape}] d${name}[${i}]: autograd ${grad.data[i]} vs finite difference ${fd}`;
            assert.ok(Math.abs(grad.data[i]! - fd) <= 1e-5 * scale, what);
          }
        }
      }
    }));
}

test('GroupNorm: state dict names, affine off, train = eval, groups = 1 and = C match the definition', () => {
  const gn = new GroupNorm(2, 6);
  assert.deepEqual(Object.keys(gn.stateDict()), ['weight', 'bias']);
  assert.deepEqual(gn.weight!.toArray(), [1, 1, 1, 1, 1, 1]);
  assert.deepEqual(gn.bias!.toArray(), [0, 0, 0, 0, 0, 0]);
  const plain = new GroupNorm(3, 6, { affine: false });
  assert.deepEqual(Object.keys(plain.stateDict()), []);
  assert.equal(plain.weight, null);
  const x = Tensor.randn([2, 6, 4], { generator: new RandomGenerator(4), mean: 3 });
  gn.weight!.data.set([0.5, 1, 1.5, 2, 2.5, 3]);
  const yTrain = gn.forward(x).toFloat32Array();
  gn.eval();
  assert.deepEqual(gn.forward(x).toFloat32Array(), yTrain);
  for (const groups of [1, 6]) {
    const y = new GroupNorm(groups, 6, { eps: 0.01 }).forward(x).toFloat32Array();
    const def = groupNormF64(x.toFloat32Array(), [2, 6, 4], groups, 0.01, null, null);
    assertMixed(y, def, 1e-6, 1e-6, `groups ${groups}`);
  }
});

test('groupNorm: only the gradients asked for; no graph and no leaked heap under noGrad or after backward()', () => {
  const gen = new RandomGenerator(8);
  const x = Tensor.randn([2, 4, 5], { generator: gen });
  const w = Tensor.randn([4], { generator: gen }).requiresGrad_();
  const dy = Tensor.randn([2, 4, 5], { generator: gen });
  groupNorm(x, 2, w, null).backward(dy);
  // dγ alone (x and β need none) equals the dγ of a full backward
  const xr = x.clone().requiresGrad_();
  const wr = w.detach().clone().requiresGrad_();
  const b = Tensor.zeros([4]).requiresGrad_();
  groupNorm(xr, 2, wr, b).backward(dy);
  assert.deepEqual(w.grad!.toArray(), wr.grad!.toArray());
  assert.equal(x.grad, null);
  noGrad(() => groupNorm(x, 2, w, null)).dispose(); // warm-up (kernel scratch)
  const before = heapStats().liveBytes;
  const y = noGrad(() => groupNorm(x, 2, w, null));
  assert.equal(y.gradFn, null);
  y.dispose();
  assert.equal(heapStats().liveBytes, before);
});

test(
  'a conv → GroupNorm → ReLU net trains at batch 1 (SGD lowers the loss) and its heap use stays flat over ' + 'steps',
  () => {
    const gen = new RandomGenerator(9);
    const net = new Sequential(
      new Conv2d(3, 8, 3, { padding: 1 }),
      new GroupNorm(4, 8),
      new ReLU(),
      new Conv2d(8, 3, 1),
    );
    const opt = new SGD(net.parameters(), { lr: 0.1 });
    const x = Tensor.randn([1, 3, 6, 6], { generator: gen });
    const target = Int32Array.from({ length: 36 }, (_, i) => i % 3);
    const losses: number[] = [];
    const reserved: number[] = [];
    for (let step = 0; step < 8; step++) {
      opt.zeroGrad();
      const loss = crossEntropy(net.forward(x), target);
      losses.push(loss.item());
      loss.backward();
      opt.step();
      loss.dispose();
      reserved.push(heapStats().reservedBytes);
    }
    assert.ok(losses[7]! < losses[0]! * 0.9, `loss ${losses[0]} → ${losses[7]}`);
    assert.equal(reserved[7], reserved[2], `reserved heap grew: ${reserved}`);
  },
);

test('GroupNorm: bad arguments and inputs are rejected with messages that name them', () => {
  throwsLike(() => new GroupNorm(4, 6), UsageError, 'GroupNorm: numChannels (6) must be divisible by numGroups (4)');
  throwsLike(() => new GroupNorm(0, 6), UsageError, 'GroupNorm: numGroups must be a positive integer, received 0');
  throwsLike(
    () => new GroupNorm(2, 6.5),
    UsageError,
    'GroupNorm: numChannels must be a positive integer, received 6.5',
  );
  throwsLike(
    () => new GroupNorm(2, 6, { eps: -1 }),
    UsageError,
    'GroupNorm: eps must be a finite number ≥ 0, received -1',
  );
  throwsLike(
    () => new GroupNorm(2, 6, { eps: NaN }),
    UsageError,
    'GroupNorm: eps must be a finite number ≥ 0, received NaN',
  );
  throwsLike(
    () => new GroupNorm(2, 6, { eps: '1e-5' as unknown as number }),
    UsageError,
    'GroupNorm: eps must be a finite number ≥ 0, received "1e-5"',
  );
  throwsLike(
    () => new GroupNorm(2, 6, { affine: 1 as unknown as boolean }),
    UsageError,
    'GroupNorm: affine must be a boolean, received 1',
  );
  throwsLike(
    () => new GroupNorm(2, 6, { momentum: 0.1 } as never),
    UsageError,
    'GroupNorm: unknown option "momentum" (expected one of "eps", "affine")',
  );
  const gn = new GroupNorm(2, 6);
  throwsLike(
    () => gn.forward(Tensor.zeros([2, 5, 3])),
    ShapeError,
    'GroupNorm: expected input of shape (N, 6, *) (rank ≥ 2), received shape [2, 5, 3]',
  );
  throwsLike(
    () => gn.forward(Tensor.zeros([6])),
    ShapeError,
    'GroupNorm: expected input of shape (N, 6, *) (rank ≥ 2), received shape [6]',
  );
  const x = Tensor.zeros([2, 6, 3]);
  throwsLike(
    () => groupNorm(x, 4),
    UsageError,
    'groupNorm: numChannels 6 (input shape [2, 6, 3]) must be divisible by numGroups 4',
  );
  throwsLike(
    () => groupNorm(Tensor.zeros([6]), 2),
    ShapeError,
    'groupNorm: input must have rank ≥ 2 (N, C, *), received rank 1 with shape [6]',
  );
  throwsLike(() => groupNorm(x, 1.5), UsageError, 'groupNorm: numGroups must be a positive integer, received 1.5');
  throwsLike(
    () => groupNorm(x, 2, null, null, { eps: Infinity }),
    UsageError,
    'groupNorm: eps must be a finite number ≥ 0, received Infinity',
  );
  throwsLike(
    () => groupNorm(x, 2, null, null, { epsilon: 1 } as never),
    UsageError,
    'groupNorm: unknown option "epsilon" (expected one of "eps")',
  );
  throwsLike(
    () => groupNorm(x, 2, Tensor.ones([5])),
    ShapeError,
    'groupNorm: weight must have shape [6] (the channel count of input [2, 6, 3]), received [5]',
  );
  throwsLike(
    () => groupNorm(x, 2, null, Tensor.ones([6, 1])),
    ShapeError,
    'groupNorm: bias must have shape [6] (the channel count of input [2, 6, 3]), received [6, 1]',
  );
  throwsLike(
    () => groupNorm(x.data as never, 2),
    UsageError,
    'groupNorm: input must be a Tensor, received Float32Array(length 36)',
  );
});
