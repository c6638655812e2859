// The grid's premise: SyncBN over N workers × b is the big-batch 1 × N·b run; per-worker BN is not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runConfig } from '../../src/demo/run-config.js';
import { stepIndices, type RankConfig, type RankResult } from '../../src/demo/train-rank.js';

const base: Omit<RankConfig, 'norm' | 'batchPerWorker'> = {
  seed: 3,
  epochs: 1,
  train: 24,
  val: 4,
  size: 32,
  width: 4,
  lr: 0.05,
  gallery: 0,
  maxSteps: 4,
  record: true,
};

function maxRel(a: readonly number[], b: readonly number[]): number {
  assert.equal(a.length, b.length);
  const scale = Math.max(1e-6, ...a.map(Math.abs));
  return Math.max(0, ...a.map((v, i) => Math.abs(v - b[i]!) / scale));
}

function compare(x: RankResult, y: RankResult): { loss: number; weights: number } {
  const loss = maxRel(x.losses!, y.losses!);
  let weights = 0;
  for (const [k, v] of Object.entries(x.state!)) weights = Math.max(weights, maxRel(v, y.state![k]!));
  return { loss, weights };
}

test('the global sample order depends on the global batch only: a 1 × 4 step is the union of the 4 × 1 steps', () => {
  for (const step of [0, 3]) {
    const big = stepIndices(7, 2, 50, 4, step, 0, 4);
    const parts = [0, 1, 2, 3].flatMap((r) => stepIndices(7, 2, 50, 4, step, r, 1));
    assert.deepEqual(parts, big);
  }
  assert.notDeepEqual(stepIndices(7, 1, 50, 4, 0, 0, 4), stepIndices(7, 2, 50, 4, 0, 0, 4));
});

test('SyncBN 4 × 1 = big batch 1 × 4 (losses, weights ≤ 1e-4 rel., 4 steps); per-worker BN is not', async () => {
  const sync = await runConfig(4, { ...base, norm: 'syncbn', batchPerWorker: 1 });
  const big = await runConfig(1, { ...base, norm: 'bigbatch', batchPerWorker: 4 });
  const local = await runConfig(4, { ...base, norm: 'bn', batchPerWorker: 1 });
  assert.equal(sync.losses!.length, 4);
  const same = compare(sync, big);
  assert.ok(same.loss <= 1e-4 && same.weights <= 1e-4, `SyncBN vs big batch: ${JSON.stringify(same)}`);
  const diff = compare(local, big);
  assert.ok(diff.weights > 1e-2, `per-worker BN vs big batch should differ: ${JSON.stringify(diff)}`);
  // the first step's loss is computed before any update: identical in all three except for BN's normalization
  assert.ok(Math.abs(local.losses![0]! - big.losses![0]!) > 1e-4, 'per-worker BN normalizes each image on its own');
});
