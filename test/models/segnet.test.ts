// SegNet and the model registry: shapes, the norm parameter (BN, SyncBN, GroupNorm, a factory), bad options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';
import { BatchNorm2d } from '../../src/nn/layers/batchnorm.js';
import { GroupNorm } from '../../src/nn/layers/groupnorm.js';
import { Identity } from '../../src/nn/layers/basic.js';
import { SyncBatchNorm } from '../../src/parallel/syncbn.js';
import { crossEntropy } from '../../src/nn/functional/loss.js';
import { architectures, createModel, segNet } from '../../src/models/index.js';
import type { Module } from '../../src/nn/module.js';
import type { ProcessGroup } from '../../src/comm/types.js';

const kinds = (m: Module): string[] => [...m.modules()].map((x) => x.constructor.name);

test('SegNet maps N×1×H×W to N×11×H×W logits and trains with an ignore index; same seed, same weights', () => {
  const m = segNet({ size: 32, width: 4, seed: 1 });
  const x = Tensor.from(
    Float32Array.from({ length: 2 * 32 * 32 }, (_, i) => Math.sin(i)),
    [2, 1, 32, 32],
  );
  const y = m.forward(x);
  assert.deepEqual([...y.shape], [2, 11, 32, 32]);
  const labels = Int32Array.from({ length: 2 * 32 * 32 }, (_, i) => (i % 7 === 0 ? 255 : i % 11));
  crossEntropy(y, labels, { ignoreIndex: 255 }).backward();
  for (const p of m.parameters()) assert.ok(p.grad !== null && p.grad.data.some((v) => v !== 0));
  const w = (s: number): number[] => [...segNet({ size: 32, width: 4, seed: s }).parameters()[0]!.data];
  assert.deepEqual(w(1), w(1));
  assert.notDeepEqual(w(1), w(2));
  assert.equal(kinds(m).filter((k) => k === 'Conv2d').length, 6);
});

test('the norm is a parameter: BatchNorm2d, SyncBatchNorm, GroupNorm (groups divide channels), a factory', () => {
  assert.equal(kinds(segNet({ width: 4 })).filter((k) => k === 'BatchNorm2d').length, 5);
  const group = { rank: 0, size: 1, allGatherSync: () => undefined } as unknown as ProcessGroup;
  assert.equal(kinds(segNet({ width: 4, norm: 'syncbn', group })).filter((k) => k === 'SyncBatchNorm').length, 5);
  const gn = [...segNet({ width: 6, norm: 'groupnorm' }).modules()].filter(
    (x): x is GroupNorm => x instanceof GroupNorm,
  );
  // 6 channels: 6 groups (8 does not divide 6); 12 channels: 6 groups
  assert.deepEqual(
    gn.map((g) => [g.numGroups, g.numChannels]),
    [
      [6, 6],
      [6, 12],
      [6, 12],
      [6, 12],
      [6, 12],
    ],
  );
  const custom = segNet({ width: 4, norm: () => new Identity() });
  assert.ok(![...custom.modules()].some((x) => x instanceof BatchNorm2d || x instanceof SyncBatchNorm));
});

test('registry: createModel("demo") builds SegNet; bad names and options are usage errors naming them', () => {
  assert.ok('demo' in architectures);
  const m = createModel('demo', { size: 16, width: 2 });
  assert.deepEqual([...(m as ReturnType<typeof segNet>).forward(Tensor.zeros([1, 1, 16, 16])).shape], [1, 11, 16, 16]);
  assert.throws(() => createModel('resnet'), {
    name: 'UsageError',
    message: 'createModel: name must be one of "demo", received "resnet"',
  });
  assert.throws(() => segNet({ size: 30 }), {
    name: 'UsageError',
    message: 'segNet: size must be a multiple of 4, received 30',
  });
  assert.throws(() => segNet({ width: 0 }), {
    name: 'UsageError',
    message: 'segNet: width must be an integer ≥ 1, received 0',
  });
  assert.throws(() => segNet({ norm: 'syncbn' }), {
    name: 'UsageError',
    message: 'segNet: norm "syncbn" needs a group, received undefined',
  });
  assert.throws(
    () => segNet({ norm: 'layernorm' as never }),
    /segNet: norm must be one of "bn", "syncbn", "groupnorm" or a function, received "layernorm"/,
  );
});
