// convertSyncBatchNorm / revertSyncBatchNorm keep the very tensors and names; eval mode never communicates; subgroup
// arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';
import { Sequential } from '../../src/nn/layers/sequential.js';
import { Conv2d } from '../../src/nn/layers/conv.js';
import { BatchNorm, BatchNorm2d, BatchNorm1d } from '../../src/nn/layers/batchnorm.js';
import { ReLU } from '../../src/nn/layers/basic.js';
import { SyncBatchNorm } from '../../src/parallel/syncbn.js';
import { convertSyncBatchNorm, revertSyncBatchNorm, createSyncBNProcessGroup } from '../../src/parallel/convert.js';
import { UsageError } from '../../src/errors.js';
import { fakeGroup } from './fake-group.js';

test(
  'convert swaps every BatchNorm (nested too) for SyncBatchNorm sharing its tensors, named by its path; revert ' +
    'restores the class',
  () => {
    const inner = new Sequential(new Conv2d(2, 3, 1), new BatchNorm2d(3, { momentum: null, eps: 1e-3 }));
    const model = new Sequential(inner, new ReLU(), new BatchNorm1d(3, { affine: false }));
    const bn = inner.at(1) as BatchNorm2d;
    bn.runningMean!.fill_(0.5);
    const tensorsBefore = Object.values(model.stateDict());
    model.eval();
    const g = fakeGroup(0, [new Float64Array(7)]);
    const out = convertSyncBatchNorm(model, g);
    assert.equal(out, model);
    const s = inner.at(1) as unknown as SyncBatchNorm;
    assert.ok(s instanceof SyncBatchNorm);
    assert.equal(s.layerName, '0.1');
    assert.equal((model.at(2) as unknown as SyncBatchNorm).layerName, '2');
    assert.equal(s.group, g);
    assert.equal(s.momentum, null);
    assert.equal(s.eps, 1e-3);
    assert.equal(s.training, false);
    assert.equal((model.at(2) as BatchNorm).weight, null);
    // the same tensor objects (optimizers built before conversion keep working), same keys
    assert.deepEqual(Object.keys(model.stateDict()), [
      '0.0.weight',
      '0.0.bias',
      '0.1.weight',
      '0.1.bias',
      '0.1.running_mean',
      '0.1.running_var',
      '0.1.num_batches_tracked',
      '2.running_mean',
      '2.running_var',
      '2.num_batches_tracked',
    ]);
    Object.values(model.stateDict()).forEach((t, i) => assert.equal(t, tensorsBefore[i]));
    assert.equal(s.runningMean!.data[0], 0.5);
    revertSyncBatchNorm(model);
    assert.equal(inner.at(1).constructor, BatchNorm2d);
    assert.equal(model.at(2).constructor, BatchNorm1d);
    Object.values(model.stateDict()).forEach((t, i) => assert.equal(t, tensorsBefore[i]));
    assert.equal((inner.at(1) as BatchNorm).momentum, null);
    // a bare BatchNorm converts to (and is replaced by) a new layer
    const lone = convertSyncBatchNorm(new BatchNorm(4), null);
    assert.ok(lone instanceof SyncBatchNorm);
    assert.equal(revertSyncBatchNorm(lone).constructor, BatchNorm);
    assert.throws(
      () => convertSyncBatchNorm({} as never, null),
      (e: unknown) => e instanceof UsageError && /model must be a Module/.test(e.message),
    );
    assert.throws(() => convertSyncBatchNorm(new BatchNorm(2), {} as never), /group must be a ProcessGroup or null/);
  },
);

test('eval mode uses running statistics and never communicates; training communicates once per call', () => {
  const g = fakeGroup(0, [Float64Array.of(2, 0, 0, 2, 2)]);
  const bn = new SyncBatchNorm(2, { group: g, name: 'head.bn' });
  const x = Tensor.from([1, 2, 3, 4], [2, 2]);
  bn.eval();
  const y = bn.forward(x);
  assert.deepEqual(g.calls, []);
  assert.deepEqual(
    Array.from(y.data),
    [1, 2, 3, 4].map((v) => Math.fround(v / Math.sqrt(1 + 1e-5))),
  );
  bn.train();
  bn.forward(x);
  assert.deepEqual(g.calls, [{ kind: 'allGather', tag: 'head.bn', length: 5 }]);
  // trackRunningStats false: batch statistics in eval too, local (no communication), as PyTorch
  const nb = new SyncBatchNorm(2, { group: g, trackRunningStats: false });
  nb.eval();
  nb.forward(x);
  assert.equal(g.calls.length, 1);
});

test('createSyncBNProcessGroup: every rank creates every block and gets its own; bad sizes are usage errors', () => {
  const made: number[][] = [];
  const world = {
    rank: 5,
    size: 8,
    worldRanks: [0, 1, 2, 3, 4, 5, 6, 7],
    newGroupSync(ranks: readonly number[]) {
      made.push([...ranks]);
      return ranks.includes(5) ? ({ rank: ranks.indexOf(5), size: ranks.length, worldRanks: ranks } as never) : null;
    },
  } as never as import('../../src/comm/types.js').ProcessGroup;
  const mine = createSyncBNProcessGroup(world, 4);
  assert.deepEqual(made, [
    [0, 1, 2, 3],
    [4, 5, 6, 7],
  ]);
  assert.deepEqual(mine.worldRanks, [4, 5, 6, 7]);
  assert.equal(createSyncBNProcessGroup(world, 8), world);
  assert.equal(createSyncBNProcessGroup(world, 0), world);
  assert.throws(
    () => createSyncBNProcessGroup(world, 3),
    (e: unknown) =>
      e instanceof UsageError &&
      /groupSize must be 0 or an integer dividing the group size 8, received 3/.test(e.message),
  );
});
