// The SyncBN exchanges: one collective each way, exact merge for unequal/empty shards, errors raised alike on every
// rank.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exchangeForwardStats, exchangeBackwardSums, reportForwardFailure } from '../../src/parallel/sync-stats.js';
import { referenceKernels } from '../../src/kernels/index.js';
import { CollectiveMismatchError, CommError, CommTimeoutError, ValueError } from '../../src/errors.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { fakeGroup } from './fake-group.js';

const k = referenceKernels;

/** float64 per-channel (count, mean, M2) of rows (each row = one value per channel). */
function stats(rows: number[][], c: number): { count: number; mean: Float64Array; m2: Float64Array } {
  const mean = new Float64Array(c);
  const m2 = new Float64Array(c);
  for (const r of rows) for (let j = 0; j < c; j++) mean[j] += r[j]! / rows.length;
  for (const r of rows) for (let j = 0; j < c; j++) m2[j] += (r[j]! - mean[j]!) ** 2;
  return { count: rows.length, mean, m2 };
}
const pack = (s: { count: number; mean: Float64Array; m2: Float64Array }): Float64Array =>
  Float64Array.from([s.count, ...s.mean, ...s.m2]);

test(
  'forward: one all-gather of 2C+1 values tagged with the layer; merge of unequal and empty shards equals the ' +
    'whole batch',
  () => {
    const rng = new RandomGenerator(5);
    const c = 3;
    // shards of 1, 0, 4 and 2 rows, with a large offset that would break Σx² − (Σx)² in float32
    const shardsRows = [1, 0, 4, 2].map((n) =>
      Array.from({ length: n }, () => Array.from({ length: c }, () => 1e4 + rng.normal())),
    );
    const whole = stats(shardsRows.flat(), c);
    const local = stats(shardsRows[2]!, c);
    const g = fakeGroup(
      2,
      [0, 1, 3].map((r) => pack(stats(shardsRows[r]!, c))),
    );
    const out = exchangeForwardStats({ group: g, tag: 'layer1.bn' }, k, local.count, local.mean, local.m2, 1e-5);
    assert.deepEqual(g.calls, [{ kind: 'allGather', tag: 'layer1.bn', length: 2 * c + 1 }]);
    assert.equal(out.count, 7);
    for (let j = 0; j < c; j++) {
      assert.ok(Math.abs(out.mean[j]! - whole.mean[j]!) < 1e-9);
      assert.ok(Math.abs(out.varBiased[j]! - whole.m2[j]! / 7) / (whole.m2[j]! / 7) < 1e-9);
      assert.ok(Math.abs(out.varUnbiased[j]! - whole.m2[j]! / 6) / (whole.m2[j]! / 6) < 1e-9);
      assert.ok(Math.abs(out.invstd[j]! - 1 / Math.sqrt(whole.m2[j]! / 7 + 1e-5)) < 1e-9);
    }
  },
);

test('forward: "more than 1 value per channel" is checked on the global count, not the local one', () => {
  const one = { count: 1, mean: new Float64Array([2]), m2: new Float64Array([0]) };
  // local count 1, but another rank brings 1 more: fine
  const g = fakeGroup(0, [pack({ count: 1, mean: new Float64Array([4]), m2: new Float64Array([0]) })]);
  const out = exchangeForwardStats({ group: g, tag: 'bn' }, k, 1, one.mean, one.m2, 0);
  assert.equal(out.count, 2);
  assert.equal(out.mean[0], 3);
  assert.equal(out.varBiased[0], 1);
  // global count 1 (the other rank is empty): every rank raises the same ValueError
  const g1 = fakeGroup(1, [pack({ count: 0, mean: new Float64Array(1), m2: new Float64Array(1) })]);
  assert.throws(
    () => exchangeForwardStats({ group: g1, tag: 'head.bn' }, k, 1, one.mean, one.m2, 1e-5),
    (e: unknown) =>
      e instanceof ValueError &&
      /SyncBatchNorm 'head\.bn': Expected more than 1 value per channel when training, got a global count of 1 over 2 rank\(s\) \(rank 0: 0, rank 1: 1\)/.test(
        e.message,
      ),
  );
});

test("forward: channel counts that differ across ranks fail with the layer and every rank's count", () => {
  const s = { count: 2, mean: new Float64Array(4), m2: new Float64Array(4) };
  const g = fakeGroup(
    0,
    [
      pack({ count: 2, mean: new Float64Array(4), m2: new Float64Array(4) }),
      pack({ count: 2, mean: new Float64Array(3), m2: new Float64Array(3) }),
    ],
    [4, 5, 6],
  );
  assert.throws(
    () => exchangeForwardStats({ group: g, tag: 'layer2.0.bn1' }, k, s.count, s.mean, s.m2, 1e-5),
    (e: unknown) =>
      e instanceof CollectiveMismatchError &&
      e.message ===
        "SyncBatchNorm 'layer2.0.bn1': channel counts differ across ranks: rank 0 (world rank 4) has 4, rank 1 " +
          '(world rank 5) has 4, rank 2 (world rank 6) has 3 channels',
  );
});

test('forward: a rank that failed in the layer still joins, so the others fail at once naming it', () => {
  const s = { count: 2, mean: new Float64Array(2), m2: new Float64Array(2) };
  const failing = fakeGroup(1, [pack(s), pack(s)]);
  const original = new ValueError('BatchNorm: input must be finite');
  assert.throws(
    () => reportForwardFailure({ group: failing, tag: 'bn' }, original),
    (e: unknown) =>
      e === original && original.message === "SyncBatchNorm 'bn' forward on rank 1: BatchNorm: input must be finite",
  );
  assert.deepEqual(failing.calls, [{ kind: 'allGather', tag: 'bn', length: 1 }]);
  const g = fakeGroup(0, [Float64Array.of(-1), pack(s)]);
  assert.throws(
    () => exchangeForwardStats({ group: g, tag: 'bn' }, k, s.count, s.mean, s.m2, 1e-5),
    (e: unknown) =>
      e instanceof CommError &&
      e.code === 'E_COMM_PEER_FAILED' &&
      /SyncBatchNorm 'bn' forward on rank 0: rank 1 failed inside this layer's forward/.test(e.message),
  );
});

test('a CommError from the collective keeps its type and gains the layer name', () => {
  const g = fakeGroup(0, [new Float64Array(3)]);
  g.allGatherSync = () => {
    throw new CommTimeoutError('allGather #7 (tag "bn") timed out after 50 ms waiting for rank 1', [1]);
  };
  const s = { count: 2, mean: new Float64Array(1), m2: new Float64Array(1) };
  assert.throws(
    () => exchangeForwardStats({ group: g, tag: 'bn' }, k, s.count, s.mean, s.m2, 1e-5),
    (e: unknown) =>
      e instanceof CommTimeoutError &&
      e.missingRanks[0] === 1 &&
      /^SyncBatchNorm 'bn' forward statistics exchange on rank 0: allGather #7/.test(e.message),
  );
});

test('backward: one all-reduce of [Σdy, Σdy·(x−μ)] (2C values) tagged with the layer, written back in place', () => {
  const g = fakeGroup(1, [Float64Array.of(1, 2, 10, 20), Float64Array.of(100, 200, 1000, 2000)]);
  const sumDy = Float64Array.of(0.5, 0.25);
  const sumDyXmu = Float64Array.of(3, 4);
  exchangeBackwardSums({ group: g, tag: 'bn' }, sumDy, sumDyXmu);
  assert.deepEqual([...sumDy], [101.5, 202.25]);
  assert.deepEqual([...sumDyXmu], [1013, 2024]);
  assert.deepEqual(g.calls, [{ kind: 'allReduce', tag: 'bn', length: 4 }]);
});
