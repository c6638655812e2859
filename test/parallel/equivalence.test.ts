// The defining property: DDP + SyncBN over N thread ranks whose batches concatenate to B ≡ one worker with BatchNorm on
// B.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnThreads, type RankOutcome } from '../../src/comm/index.js';
import { TORCH_FIXTURE, checkAgainstTorch, loadFixture, torchRun } from './torch-lib.js';
import { compareRuns as worst, runReference, type RunRecord, type RunSpec } from './equiv-lib.js';

const LIB = new URL('./equiv-lib.js', import.meta.url).href;
const TOL = 1e-5;

function values<T>(outs: RankOutcome<T>[]): T[] {
  return outs.map((o) => {
    if (!o.ok) assert.fail(`rank ${o.rank} failed: ${o.error.name}: ${o.error.message}\n${o.error.stack ?? ''}`);
    return o.value;
  });
}

/** Run `spec` as spec.counts.length thread ranks. */
export async function runThreads(spec: RunSpec): Promise<RunRecord[]> {
  const outs = await spawnThreads(
    spec.counts.length,
    async (pg, args) =>
      ((await import(args[0]!)) as typeof import('./equiv-lib.js')).runRank(pg, JSON.parse(args[1]!) as RunSpec),
    [LIB, JSON.stringify(spec)],
    { deadlineMs: 120_000 },
  );
  return values(outs);
}

/** SyncBN over groups of `groupSize` (0 = all) vs the reference with one replica per group. */
async function checkEquivalent(spec: RunSpec): Promise<void> {
  const world = spec.counts.length;
  const block = spec.groupSize ? spec.groupSize : world;
  const groupCounts = Array.from({ length: world / block }, (_, j) =>
    spec.counts.slice(j * block, (j + 1) * block).reduce((a, b) => a + b, 0),
  );
  const [ranks, refs] = [await runThreads(spec), runReference(spec, groupCounts)];
  const { err, where } = worst(ranks, refs, block, spec.steps);
  assert.ok(err <= TOL, `${JSON.stringify(spec)}: relative error ${err} > ${TOL} at ${where}`);
}

const base = { steps: 5, seed: 7, bn: 'sync' as const, bucketCapMB: 0.0002 };

for (const world of [2, 3, 4, 8]) {
  test(
    `world ${world} (threads): outputs, loss, every gradient, running stats and parameters after 5 SGD-momentum ` +
      `steps ≤ 1e-5`,
    async () => {
      await checkEquivalent({ ...base, model: 'cnn', counts: new Array(world).fill(2) });
    },
  );
}

test("harness smoke test, world 1: one rank runs the reference's own code (no SyncBN exchange to check)", async () => {
  await checkEquivalent({ ...base, model: 'cnn', counts: [2] });
});

test(
  "PyTorch fixture: unequal shards [1, 3, 0, 4] over 4 thread ranks (one empty) reproduce torch's BatchNorm on " +
    'the whole batch of 8',
  async () => {
    checkAgainstTorch(await torchRun('threads', [1, 3, 0, 4]), loadFixture(TORCH_FIXTURE), 'threads [1, 3, 0, 4]');
  },
);

test('unequal shards: rank r gets r + 1 samples (4 ranks)', async () => {
  await checkEquivalent({ ...base, model: 'cnn', counts: [1, 2, 3, 4] });
});

test('one empty shard: that rank still joins every collective with count 0', async () => {
  await checkEquivalent({ ...base, model: 'cnn', counts: [3, 0, 2] });
});

test('channels-last (N, H, W, C) input', async () => {
  await checkEquivalent({ ...base, model: 'channelsLast', counts: [2, 3] });
});

test('rank-2 (N, C) input, one sample per rank', async () => {
  await checkEquivalent({ ...base, model: 'mlp', counts: [1, 1, 1, 1] });
});

test('rank-5 (N, C, D, H, W) input', async () => {
  await checkEquivalent({ ...base, model: 'rank5', counts: [1, 2] });
});

test('affine off', async () => {
  await checkEquivalent({ ...base, model: 'cnnAffineOff', counts: [2, 1, 2] });
});

test('momentum null (cumulative moving average of the running statistics)', async () => {
  await checkEquivalent({ ...base, model: 'cnnMomentumNull', counts: [2, 2] });
});

test(
  'very different magnitudes per rank (|mean| ≫ std: offsets 0, 300, −1000): exact merge, no ' + 'cancellation',
  async () => {
    // BN sees the raw inputs (rank-5 model: BN first), so the offsets stress the statistics merge, not a float32 GEMM
    await checkEquivalent({ ...base, model: 'rank5', counts: [2, 3, 2], offsets: [0, 300, -1000] });
  },
);

test("subgroups: 8 ranks as 2 SyncBN groups of 4 ≡ 2 workers each holding its group's batch", async () => {
  await checkEquivalent({ ...base, model: 'cnn', counts: [1, 2, 1, 1, 2, 1, 1, 1], groupSize: 4 });
});

test(
  'negative control: plain per-rank BatchNorm differs measurably from one worker on B (and equals per-rank ' +
    'replicas)',
  async () => {
    const spec: RunSpec = { ...base, bn: 'local', model: 'cnn', counts: [2, 2, 2, 2] };
    const ranks = await runThreads(spec);
    const single = worst(ranks, runReference(spec, [8]), 4, spec.steps);
    assert.ok(single.err > 1e-2, `per-rank BN should differ from full-batch BN, worst difference only ${single.err}`);
    // what it does equal: 4 replicas with local BN whose gradients are averaged (DDP itself is right)
    const perRank = worst(ranks, runReference(spec, [2, 2, 2, 2]), 1, spec.steps);
    assert.ok(perRank.err <= TOL, `DDP with local BN vs 4 local replicas: ${perRank.err} at ${perRank.where}`);
  },
);

test(
  'reproducible: two runs with the same seed and world size give bitwise identical parameters ' + '(threads)',
  async () => {
    const spec: RunSpec = { ...base, model: 'cnn', counts: [1, 3, 2] };
    const [a, b] = [await runThreads(spec), await runThreads(spec)];
    for (let r = 0; r < a.length; r++) assert.deepEqual(a[r]!.final, b[r]!.final);
    // and every rank holds the same parameters and buffers, bit for bit
    for (let r = 1; r < a.length; r++) assert.deepEqual(a[r]!.final, a[0]!.final);
  },
);
