// DistributedSampler: PyTorch's shard sizes, padding and dropping, disjoint covering shards, shuffle by seed + epoch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DistributedSampler } from '../../src/parallel/sampler.js';
import { RandomGenerator } from '../../src/tensor/random.js';
import { UsageError } from '../../src/errors.js';

const shards = (
  n: number,
  R: number,
  o: { shuffle?: boolean; dropLast?: boolean; seed?: number; epoch?: number } = {},
): number[][] =>
  Array.from({ length: R }, (_, rank) => {
    // epoch is not a constructor option (it was silently ignored before keys were checked)
    const { epoch, ...opts } = o;
    const s = new DistributedSampler(n, { numReplicas: R, rank, ...opts });
    if (epoch !== undefined) s.setEpoch(epoch);
    return [...s];
  });

test('no shuffle, pad: rank r takes r, r+R, … and the tail repeats the head (PyTorch)', () => {
  // torch: DistributedSampler(range(10), 4, r, shuffle=False) → [0,4,8],[1,5,9],[2,6,0],[3,7,1]
  assert.deepEqual(shards(10, 4, { shuffle: false }), [
    [0, 4, 8],
    [1, 5, 9],
    [2, 6, 0],
    [3, 7, 1],
  ]);
  // padding longer than the dataset repeats it several times: n = 2, R = 5
  assert.deepEqual(shards(2, 5, { shuffle: false }), [[0], [1], [0], [1], [0]]);
});

test('no shuffle, dropLast: every rank gets floor(n/R) and nothing repeats', () => {
  assert.deepEqual(shards(10, 4, { shuffle: false, dropLast: true }), [
    [0, 4],
    [1, 5],
    [2, 6],
    [3, 7],
  ]);
  const s = new DistributedSampler(10, { numReplicas: 4, rank: 0, dropLast: true });
  assert.equal(s.numSamples, 2);
  assert.equal(s.totalSize, 8);
  assert.deepEqual(shards(3, 4, { dropLast: true }), [[], [], [], []]);
});

test('sizes 0, 1, odd, non-divisible: equal shard lengths; shards cover the dataset exactly once (+ padding)', () => {
  for (const n of [0, 1, 7, 13, 64]) {
    for (const R of [1, 2, 3, 8]) {
      for (const dropLast of [false, true]) {
        const sh = shards(n, R, { dropLast, seed: 3, epoch: 2 });
        const len = sh[0]!.length;
        for (const s of sh) assert.equal(s.length, len, `n=${n} R=${R}`);
        const all = sh.flat();
        const distinct = new Set(all);
        if (dropLast) {
          assert.equal(all.length, distinct.size, 'no repeats with dropLast');
          assert.equal(all.length, n - (n % R));
        } else {
          assert.equal(len, Math.ceil(n / R));
          assert.equal(distinct.size, n, 'every index appears');
        }
        for (const i of all) assert.ok(i >= 0 && i < n);
      }
    }
  }
});

test(
  'shuffle is a function of seed + epoch only: same on every call and rank, different across epochs and ' + 'seeds',
  () => {
    const a = shards(50, 3, { seed: 7, epoch: 1 });
    assert.deepEqual(shards(50, 3, { seed: 7, epoch: 1 }), a);
    assert.notDeepEqual(shards(50, 3, { seed: 7, epoch: 2 }), a);
    assert.notDeepEqual(shards(50, 3, { seed: 8, epoch: 1 }), a);
    // seed + epoch is what matters (PyTorch seeds its generator with seed + epoch)
    assert.deepEqual(shards(50, 3, { seed: 6, epoch: 2 }), a);
    // interleaving the shards in rank order gives a permutation of 0..n−1 followed by the padding (its head)
    const inter: number[] = [];
    for (let i = 0; i < a[0]!.length; i++) for (const s of a) inter.push(s[i]!);
    assert.equal(inter.length, 51);
    assert.deepEqual(
      inter.slice(0, 50).sort((x, y) => x - y),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.equal(inter[50], inter[0]);
    const s = new DistributedSampler(50, { numReplicas: 3, rank: 0, seed: 7 });
    s.setEpoch(1);
    assert.deepEqual(s.indices(), [...s]);
    assert.equal(s.epoch, 1);
  },
);

test('the permutation is uniform enough: every position sees every value over many seeds', () => {
  const n = 5;
  const seen = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let seed = 0; seed < 2000; seed++)
    new RandomGenerator(seed).permutation(n).forEach((v, pos) => seen[pos]![v]!++);
  for (const row of seen) for (const c of row) assert.ok(c > 300 && c < 500, `count ${c} far from 400`);
});

test('options come from a group; bad options are usage errors naming the argument', () => {
  const group = { rank: 1, size: 3 } as unknown as import('../../src/comm/types.js').ProcessGroup;
  const s = new DistributedSampler({ length: 9 }, { group, shuffle: false });
  assert.deepEqual([...s], [1, 4, 7]);
  assert.equal(s.length, 3);
  assert.throws(
    () => new DistributedSampler(5, {}),
    (e: unknown) => e instanceof UsageError && /options\.group/.test(e.message),
  );
  assert.throws(
    () => new DistributedSampler(5, { numReplicas: 2, rank: 2 }),
    /rank must be an integer in \[0, 1\], received 2/,
  );
  assert.throws(
    () => new DistributedSampler(5, { numReplicas: 0, rank: 0 }),
    /numReplicas must be an integer ≥ 1, received 0/,
  );
  assert.throws(
    () => new DistributedSampler(-1, { numReplicas: 1, rank: 0 }),
    /dataset length must be a non-negative integer, received -1/,
  );
  assert.throws(
    () => new DistributedSampler(5, { numReplicas: 1, rank: 0, seed: 0.5 }),
    /seed must be a safe integer, received 0.5/,
  );
  assert.throws(() => s.setEpoch(-1), /epoch must be a non-negative integer, received -1/);
});
