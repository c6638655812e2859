// Layer and optimizer options: unknown keys are refused naming the key and the allowed ones; strings print quoted;
// BatchNorm checkFinite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';
import {
  AvgPool2d,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  Conv2d,
  Linear,
  MaxPool2d,
  Upsample,
  AdamW,
  CosineAnnealingLR,
  PolyLR,
  SGD,
  DistributedSampler,
  SyncBatchNorm,
} from '../../src/index.js';

const BN = 'eps, momentum, affine, trackRunningStats, channelsLast, fuseRelu, checkFinite';

test('unknown option keys are a UsageError naming the key and the allowed ones, in every layer and optimizer', () => {
  const cases: [() => unknown, string][] = [
    [
      () => new Conv2d(3, 4, 3, { paddnig: 1 } as never),
      'Conv2d: unknown option "paddnig" (allowed: stride, padding, dilation, groups, bias, generator)',
    ],
    [() => new Linear(3, 4, { bais: false } as never), 'Linear: unknown option "bais" (allowed: bias, generator)'],
    [() => new BatchNorm2d(3, { moment: 0.1 } as never), `BatchNorm2d: unknown option "moment" (allowed: ${BN})`],
    [() => new BatchNorm1d(3, { group: null } as never), `BatchNorm1d: unknown option "group" (allowed: ${BN})`],
    [
      () => new SyncBatchNorm(3, { timeout: 5 } as never),
      `SyncBatchNorm: unknown option "timeout" (allowed: ${BN}, group, name, timeoutMs)`,
    ],
    [() => new MaxPool2d(2, { strid: 2 } as never), 'MaxPool2d: unknown option "strid" (allowed: stride, padding)'],
    [() => new AvgPool2d(2, { pad: 1 } as never), 'AvgPool2d: unknown option "pad" (allowed: stride, padding)'],
    [() => new Upsample({ scale: 2 } as never), 'Upsample: unknown option "scale" (allowed: size, scaleFactor)'],
    [
      () => new SGD([Tensor.zeros([1])], { lr: 0.1, weight_decay: 1 } as never),
      'SGD: unknown option "weight_decay" (allowed: lr, momentum, dampening, weightDecay, nesterov)',
    ],
    [
      () => new AdamW([Tensor.zeros([1])], { beta1: 0.9 } as never),
      'AdamW: unknown option "beta1" (allowed: lr, betas, eps, weightDecay, amsgrad)',
    ],
    [
      () => new SGD([{ params: [Tensor.zeros([1])], mom: 1 }] as never, { lr: 0.1 }),
      'SGD param group: unknown option "mom" (allowed: params, lr, momentum, dampening, weightDecay, nesterov)',
    ],
    [
      () => new DistributedSampler(10, { numReplicas: 1, rank: 0, epoch: 2 } as never),
      'DistributedSampler: unknown option "epoch" (allowed: group, numReplicas, rank, shuffle, seed, dropLast)',
    ],
    [() => new BatchNorm2d(3, 'fast' as never), 'BatchNorm2d: options must be an object, received "fast"'],
  ];
  for (const [fn, message] of cases) assert.throws(fn, { name: 'UsageError', message });
  const opt = new SGD([Tensor.zeros([1])], { lr: 1 });
  assert.throws(() => new PolyLR(opt, { totalSteps: 3, pow: 2 } as never), {
    message: 'PolyLR: unknown option "pow" (allowed: totalSteps, power)',
  });
  assert.throws(() => new CosineAnnealingLR(opt, { tMax: 3, eta_min: 0 } as never), {
    message: 'CosineAnnealingLR: unknown option "eta_min" (allowed: tMax, etaMin)',
  });
  // every known key still works, undefined values included
  new Conv2d(3, 4, 3, { stride: 1, padding: 1, dilation: 1, groups: 1, bias: true, generator: undefined });
  new BatchNorm3d(2, {
    eps: 1e-3,
    momentum: null,
    affine: false,
    trackRunningStats: true,
    channelsLast: false,
    fuseRelu: false,
    checkFinite: true,
  });
});

test('strings in messages are quoted: BatchNorm2d(\'3\') says received "3"', () => {
  assert.throws(() => new BatchNorm2d('3' as never), {
    name: 'UsageError',
    message: 'BatchNorm2d: numFeatures must be a positive integer, received "3"',
  });
  assert.throws(() => new BatchNorm2d(3, { eps: '1e-5' as never }), {
    message: 'BatchNorm2d: eps must be a finite number ≥ 0, received "1e-5"',
  });
  assert.throws(() => new BatchNorm2d(3, { checkFinite: 'yes' as never }), {
    message: 'BatchNorm2d: checkFinite must be a boolean, received "yes"',
  });
  assert.throws(() => new SGD([Tensor.zeros([1])], { lr: '0.1' as never }), {
    message: 'SGD: lr must be a finite number ≥ 0, received "0.1"',
  });
});

test(
  'checkFinite: a NaN or Inf input is a ValueError naming the layer, the value and its index (training and ' +
    'eval); off by default',
  () => {
    const x = Tensor.from([1, 2, 3, NaN, 5, 6, 7, 8], [2, 2, 2]);
    const bn = new BatchNorm1d(2, { checkFinite: true });
    assert.throws(() => bn.forward(x), {
      name: 'ValueError',
      message: 'BatchNorm1d: input must be finite (checkFinite is on), found NaN at index 3',
    });
    assert.deepEqual(Array.from(bn.runningMean!.data), [0, 0], 'running statistics untouched');
    bn.eval();
    assert.throws(() => bn.forward(Tensor.from([1, -Infinity, 3, 4], [2, 2])), {
      message: 'BatchNorm1d: input must be finite (checkFinite is on), found -Infinity at index 1',
    });
    const off = new BatchNorm1d(2);
    const y = off.forward(x);
    assert.ok(Number.isNaN(y.data[2]!), 'without checkFinite the NaN spreads, as in PyTorch');
    assert.ok(Number.isNaN(off.runningMean!.data[1]!));
    assert.equal(new BatchNorm1d(2, { checkFinite: true }).forward(Tensor.from([1, 2, 3, 4], [2, 2])).size, 4);
  },
);
