// Layer and op semantics not covered by the PyTorch fixtures: typed error messages, BN layouts and modes, dropout,
// fusion, Module plumbing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor,
  Module,
  Sequential,
  Conv2d,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  ReLU,
  Linear,
  Dropout,
  MaxPool2d,
  Upsample,
  Identity,
  crossEntropy,
  RandomGenerator,
  noGrad,
  init,
  heapStats,
} from '../../src/index.js';
import {
  conv2d,
  linear,
  maxPool2d,
  avgPool2d,
  adaptiveAvgPool2d,
  upsampleBilinear,
  concat,
  batchNorm,
  dropout,
} from '../../src/nn/functional/index.js';
import { assertClose } from '../helpers/close.js';

const g = new RandomGenerator(3);
const rnd = (s: number[]): Tensor => Tensor.randn(s, { generator: g });

test('shape errors name both shapes (conv, linear, pooling, concat, cross-entropy)', () => {
  assert.throws(() => conv2d(rnd([2, 3, 5, 5]), rnd([4, 2, 3, 3])), {
    name: 'ShapeError',
    message: 'conv2d: input [2, 3, 5, 5] has 3 channels but weight [4, 2, 3, 3] with groups=1 expects 2',
  });
  assert.throws(() => conv2d(rnd([2, 3, 5]), rnd([4, 3, 3, 3])), {
    name: 'ShapeError',
    message: 'conv2d: input must be 4-D [N, C, H, W], received shape [2, 3, 5]',
  });
  assert.throws(() => conv2d(rnd([1, 3, 2, 2]), rnd([4, 3, 3, 3])), {
    name: 'ShapeError',
    message: 'conv2d: input [1, 3, 2, 2] is too small for kernel 3×3 (dilation 1×1, padding 0×0): output would be 0×0',
  });
  assert.throws(() => conv2d(rnd([1, 3, 5, 5]), rnd([4, 3, 3, 3]), rnd([5])), {
    name: 'ShapeError',
    message: 'conv2d: bias must have shape [4] for weight [4, 3, 3, 3], received [5]',
  });
  assert.throws(() => conv2d(rnd([1, 4, 5, 5]), rnd([3, 2, 3, 3]), null, { groups: 2 }), {
    name: 'ShapeError',
    message: 'conv2d: weight [3, 2, 3, 3] has 3 output channels, not divisible by groups=2',
  });
  assert.throws(() => conv2d(rnd([1, 3, 5, 5]), rnd([4, 3, 3, 3]), null, { stride: 0 }), {
    name: 'UsageError',
    message: 'conv2d: stride must be an integer ≥ 1 or a pair of them, received 0',
  });
  assert.throws(() => linear(rnd([2, 5]), rnd([3, 4])), {
    name: 'ShapeError',
    message: 'linear: input [2, 5] does not end in 4 features as weight [3, 4] expects',
  });
  assert.throws(() => maxPool2d(rnd([1, 1, 2, 2]), 3), {
    name: 'ShapeError',
    message: 'maxPool2d: input [1, 1, 2, 2] is too small for kernel 3×3 with padding 0×0',
  });
  assert.throws(() => avgPool2d(rnd([1, 1, 5, 5]), 2, { padding: 2 }), {
    name: 'UsageError',
    message: 'avgPool2d: padding 2×2 must be at most half the kernel 2×2',
  });
  assert.throws(() => concat([rnd([1, 2, 3, 3]), rnd([1, 2, 4, 3])]), {
    name: 'ShapeError',
    message: 'concat: shapes must match except in dim 1, received [1, 2, 3, 3] and [1, 2, 4, 3]',
  });
  assert.throws(() => crossEntropy(rnd([2, 3, 4, 4]), Tensor.zeros([2, 4])), {
    name: 'ShapeError',
    message: 'crossEntropy: target shape [2, 4] does not match input [2, 3, 4, 4]: expected [2, 4, 4]',
  });
  assert.throws(() => upsampleBilinear(rnd([1, 1, 3, 3]), { scaleFactor: 1.5 }), {
    name: 'UsageError',
    message:
      'upsampleBilinear: scaleFactor 1.5 does not give an integer size for input [1, 1, 3, 3]; pass size instead',
  });
});

test(
  'cross-entropy: a target out of range names the value and the valid range; all-ignored mean is NaN like ' + 'PyTorch',
  () => {
    const x = rnd([3, 4]);
    assert.throws(() => crossEntropy(x, [0, 4, 1]), {
      name: 'ValueError',
      message:
        'crossEntropy: target value 4 at index 1 is out of range: expected a class in [0, 3] or ignoreIndex -100',
    });
    assert.throws(() => crossEntropy(x, [0, -1, 1]), {
      name: 'ValueError',
      message:
        'crossEntropy: target value -1 at index 1 is out of range: expected a class in [0, 3] or ignoreIndex -100',
    });
    assert.throws(() => crossEntropy(x, [0, 1.5, 1]), { name: 'ValueError' });
    assert.throws(() => crossEntropy(rnd([1, 3, 2, 2]), [0, 1, 2, 7], { ignoreIndex: 255 }), {
      message: 'crossEntropy: target value 7 at index 3 is out of range: expected a class in [0, 2] or ignoreIndex 255',
    });
    assert.ok(Number.isNaN(crossEntropy(x, [-100, -100, -100]).item()));
    const xr = x.clone().requiresGrad_();
    const l = crossEntropy(xr, [-100, -100, -100]);
    l.backward();
    assert.deepEqual(xr.grad!.toArray(), new Array(12).fill(0));
  },
);

test('BatchNorm: channels-last input gives the NCHW result transposed; ranks are checked per layer', () => {
  const x = rnd([2, 3, 4, 5]);
  const nhwc = Tensor.empty([2, 4, 5, 3]);
  for (let n = 0; n < 2; n++)
    for (let c = 0; c < 3; c++)
      for (let s = 0; s < 20; s++) nhwc.data[(n * 20 + s) * 3 + c] = x.data[(n * 3 + c) * 20 + s]!;
  const a = new BatchNorm2d(3);
  const b = new BatchNorm2d(3, { channelsLast: true });
  const ya = a.forward(x);
  const yb = b.forward(nhwc);
  for (let n = 0; n < 2; n++)
    for (let c = 0; c < 3; c++)
      for (let s = 0; s < 20; s++) {
        assert.ok(Math.abs(yb.data[(n * 20 + s) * 3 + c]! - ya.data[(n * 3 + c) * 20 + s]!) < 1e-5);
      }
  assertClose(b.runningVar!.data, a.runningVar!.data, 1e-6, 'running var');
  assert.throws(() => new BatchNorm2d(3).forward(rnd([2, 3, 4])), {
    name: 'ShapeError',
    message: 'BatchNorm2d: expected input of rank 4, received shape [2, 3, 4]',
  });
  assert.throws(() => new BatchNorm1d(3).forward(rnd([2, 3, 4, 4])), {
    name: 'ShapeError',
    message: 'BatchNorm1d: expected input of rank 2 or 3, received shape [2, 3, 4, 4]',
  });
  assert.throws(() => new BatchNorm3d(4).forward(rnd([2, 3, 1, 1, 1])), {
    name: 'ShapeError',
    message: 'batchNorm: weight has shape [4] but input [2, 3, 1, 1, 1] has 3 channels',
  });
  assert.throws(() => new BatchNorm2d(2, { momentum: 2 }), {
    name: 'UsageError',
    message: 'BatchNorm2d: momentum must be a number in [0, 1] or null (cumulative average), received 2',
  });
});

test(
  'BatchNorm: one value per channel in training is a ValueError; eval uses running stats; ' +
    'trackRunningStats=false uses batch stats',
  () => {
    const bn = new BatchNorm1d(3);
    assert.throws(() => bn.forward(rnd([1, 3])), {
      name: 'ValueError',
      message: 'Expected more than 1 value per channel when training, got input size [1, 3]',
    });
    bn.eval();
    const y = bn.forward(rnd([1, 3])); // running stats (0, 1): y = x/√(1+eps)
    assert.equal(y.shape[0], 1);
    const x = rnd([4, 3]);
    const ye = bn.forward(x);
    assertClose(
      ye.data,
      Array.from(x.data, (v) => v / Math.sqrt(1 + 1e-5)),
      1e-6,
      'eval',
    );
    const free = new BatchNorm1d(3, { trackRunningStats: false }).eval();
    assert.equal(free.runningMean, null);
    assert.deepEqual(Object.keys(free.stateDict()), ['weight', 'bias']);
    const yf = free.forward(x);
    let m = 0;
    for (let i = 0; i < 4; i++) m += yf.data[i * 3]!;
    assert.ok(Math.abs(m) < 1e-5, 'batch statistics normalize the batch');
    assert.equal(new BatchNorm2d(2).numBatchesTracked!.item(), 0);
    const t = new BatchNorm2d(2);
    t.forward(rnd([2, 2, 2, 2]));
    t.forward(rnd([2, 2, 2, 2]));
    assert.equal(t.numBatchesTracked!.item(), 2);
    t.eval().forward(rnd([2, 2, 2, 2]));
    assert.equal(t.numBatchesTracked!.item(), 2);
  },
);

test('Sequential fuses BatchNorm → ReLU with the same outputs and gradients as the two layers apart', () => {
  const x = rnd([2, 3, 4, 4]);
  const run = (fused: boolean): number[][] => {
    const conv = new Conv2d(3, 4, 3, { padding: 1, generator: new RandomGenerator(9) });
    const bn = new BatchNorm2d(4);
    const m = fused ? new Sequential(conv, bn, new ReLU()) : new Sequential(new Sequential(conv, bn), new ReLU());
    const w = rnd([2, 4, 4, 4]);
    const y = m.forward(x);
    const out = y.toArray();
    y.mul(w).sum().backward();
    return [out, conv.weight.grad!.toArray(), bn.weight!.grad!.toArray(), bn.bias!.grad!.toArray()];
  };
  const gs = g.nextU32();
  const a = (g.manualSeed(gs), run(true));
  const b = (g.manualSeed(gs), run(false));
  a.forEach((v, i) => assert.deepEqual(v, b[i]));
});

test('dropout: seeded, scaled by 1/(1−p), identity in eval and with p = 0; gradient uses the same mask', () => {
  const x = Tensor.ones([10000]).requiresGrad_();
  const y = dropout(x, 0.3, true, new RandomGenerator(1)).keep();
  const kept = y.toArray().filter((v) => v !== 0);
  assert.ok(Math.abs(kept.length / 10000 - 0.7) < 0.02);
  assert.ok(kept.every((v) => Math.abs(v - 1 / 0.7) < 1e-6));
  assert.deepEqual(dropout(Tensor.ones([50]), 0.3, true, new RandomGenerator(1)).toArray(), y.toArray().slice(0, 50));
  y.sum().backward();
  assert.deepEqual(x.grad!.toArray(), y.toArray());
  const d = new Dropout(0.5).eval();
  const z = Tensor.ones([4]);
  assert.equal(d.forward(z), z);
  assert.throws(() => new Dropout(1.5), { name: 'UsageError', message: 'Dropout: p must be in [0, 1], received 1.5' });
});

test('Module: named parameters/buffers/modules, train/eval everywhere, apply, zeroGrad, duplicate names', () => {
  class Net extends Module {
    body = this.registerModule('body', new Sequential(new Conv2d(1, 2, 3), new BatchNorm2d(2), new ReLU()));
    head = this.registerModule('head', new Linear(2, 2, { bias: false }));
    forward(x: Tensor): Tensor {
      return this.head.forward(adaptiveAvgPool2d(this.body.forward(x), 1).flatten(1));
    }
  }
  const n = new Net();
  assert.deepEqual(
    n.namedParameters().map(([k]) => k),
    ['body.0.weight', 'body.0.bias', 'body.1.weight', 'body.1.bias', 'head.weight'],
  );
  assert.deepEqual(
    n.namedBuffers().map(([k]) => k),
    ['body.1.running_mean', 'body.1.running_var', 'body.1.num_batches_tracked'],
  );
  assert.deepEqual(
    [...n.namedModules()].map(([k]) => k),
    ['', 'body', 'body.0', 'body.1', 'body.2', 'head'],
  );
  n.eval();
  assert.ok([...n.modules()].every((m) => !m.training));
  n.train();
  assert.ok([...n.modules()].every((m) => m.training));
  const seen: string[] = [];
  n.apply((m) => seen.push(m.constructor.name));
  assert.deepEqual(seen, ['Conv2d', 'BatchNorm2d', 'ReLU', 'Sequential', 'Linear', 'Net']);
  n.forward(rnd([2, 1, 5, 5]))
    .sum()
    .backward();
  assert.ok(n.parameters().every((p) => p.grad !== null));
  n.zeroGrad();
  assert.ok(n.parameters().every((p) => p.grad === null));
  assert.throws(() => n.registerModule('head', new Identity()), {
    name: 'UsageError',
    message: 'module: attribute "head" is already registered',
  });
  assert.throws(() => n.registerModule('a.b', new Identity()), {
    name: 'UsageError',
    message: 'module: attribute name must be an identifier or an index without dots, received "a.b"',
  });
});

test("initialization follows PyTorch's defaults: conv/linear weights and biases U(±1/√fan_in), BN γ = 1, β = 0", () => {
  const c = new Conv2d(4, 64, 3, { generator: new RandomGenerator(2) });
  const bound = 1 / Math.sqrt(4 * 9);
  const w = c.weight.toArray();
  assert.ok(w.every((v) => Math.abs(v) <= bound));
  assert.ok(Math.max(...w) > 0.9 * bound && Math.min(...w) < -0.9 * bound);
  assert.ok(c.bias!.toArray().every((v) => Math.abs(v) <= bound));
  assert.deepEqual(
    new Conv2d(4, 8, 3, { generator: new RandomGenerator(2) }).weight.toArray().slice(0, 5),
    new Conv2d(4, 8, 3, { generator: new RandomGenerator(2) }).weight.toArray().slice(0, 5),
  );
  const l = new Linear(100, 50, { generator: new RandomGenerator(1) });
  assert.ok(l.weight.toArray().every((v) => Math.abs(v) <= 0.1));
  const bn = new BatchNorm2d(3);
  assert.deepEqual(
    [bn.weight!.toArray(), bn.bias!.toArray(), bn.runningMean!.toArray(), bn.runningVar!.toArray()],
    [
      [1, 1, 1],
      [0, 0, 0],
      [0, 0, 0],
      [1, 1, 1],
    ],
  );
  assert.deepEqual(init.fans(Tensor.zeros([8, 4, 3, 3])), { fanIn: 36, fanOut: 72 });
});

test('upsample, max pool and concat layers/ops work in noGrad and produce no graph', () => {
  const x = rnd([1, 2, 4, 4]).requiresGrad_();
  const y = noGrad(() => concat([new Upsample({ scaleFactor: 2 }).forward(new MaxPool2d(2).forward(x)), x], 1));
  assert.deepEqual(y.shape, [1, 4, 4, 4]);
  assert.equal(y.gradFn, null);
  const z = batchNorm(rnd([4, 2]), null, null, { training: true });
  assert.equal(z.gradFn, null);
});

test('Sequential under noGrad frees each intermediate once the next layer has run', () => {
  const m = new Sequential(
    new Conv2d(2, 4, 3, { padding: 1 }),
    new BatchNorm2d(4),
    new ReLU(),
    new MaxPool2d(2),
    new Dropout(0.5),
    new Identity(),
  ).eval();
  const x = rnd([2, 2, 8, 8]);
  noGrad(() => m.forward(x)).dispose(); // warm-up (kernel scratch)
  const before = heapStats().liveBytes;
  const y = noGrad(() => m.forward(x));
  assert.deepEqual(y.shape, [2, 4, 4, 4]);
  y.dispose();
  assert.equal(heapStats().liveBytes, before);
  assert.deepEqual(x.shape, [2, 2, 8, 8]);
  assert.equal(x.isDisposed, false);
});

test('ops given something other than a Tensor say which argument and what they received', () => {
  const bad = new Float32Array(4) as unknown as Tensor;
  assert.throws(() => conv2d(bad, rnd([1, 1, 1, 1])), {
    name: 'UsageError',
    message: 'conv2d: input must be a Tensor, received Float32Array(length 4)',
  });
  assert.throws(() => linear(rnd([2, 2]), rnd([2, 2]), [1, 2] as unknown as Tensor), {
    name: 'UsageError',
    message: 'linear: bias must be a Tensor or null, received array [1, 2]',
  });
  assert.throws(() => concat([rnd([1]), 3 as unknown as Tensor], 0), {
    name: 'UsageError',
    message: 'concat: tensor 1 must be a Tensor, received 3',
  });
  assert.throws(() => new ReLU().forward(undefined as unknown as Tensor), {
    name: 'UsageError',
    message: 'relu: input must be a Tensor, received undefined',
  });
  assert.throws(() => crossEntropy(null as unknown as Tensor, [0]), {
    name: 'UsageError',
    message: 'crossEntropy: input must be a Tensor, received null',
  });
});

test('Sequential sees a replaced child (as BatchNorm → SyncBatchNorm conversion does)', () => {
  const s = new Sequential(new ReLU(), new Identity());
  const x = Tensor.from([-1, 2]);
  assert.deepEqual(s.forward(x).toArray(), [0, 2]);
  class Neg extends Module {
    forward(t: Tensor): Tensor {
      return t.mul(-1);
    }
  }
  s.replaceModule('1', new Neg());
  assert.deepEqual(s.forward(x).toArray(), [-0, -2]);
  assert.equal(s.length, 2);
  assert.ok(s.at(1) instanceof Neg);
});
