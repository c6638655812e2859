// Collectives over the shared-memory transport: exact invariants for world sizes 1..8, sync/async/overlapped forms, subgroups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnThreads } from '../../src/comm/index.js';
import { invariants, values } from './helpers.js';

for (let n = 1; n <= 8; n++) {
  test(`threads: exact sum/max/min, broadcast from every root, variable allGather (n=${n})`, async () => {
    const lens = [0, 1, 7, 129, 1000, 37 * n + 1];
    if (n === 2 || n === 3 || n === 8) lens.push(2 ** 20); // ring path, non-divisible segments for n=3
    if (n === 5) lens.push(16411); // 64 KiB+ in float32: ring with a prime length
    const outs = await spawnThreads(n, invariants, [JSON.stringify(lens)], { deadlineMs: 60_000 });
    for (const bad of values(outs)) assert.deepEqual(bad, []);
  });
}

test('threads: results are bitwise identical on every rank and follow the fixed rank order', async () => {
  for (const [n, len] of [
    [3, 1001],
    [5, 40_000],
  ] as const) {
    const outs = await spawnThreads(
      n,
      async (pg, args) => {
        const len = Number(args[0]);
        // A deterministic pseudo-random buffer per rank with values of very different magnitudes.
        let x = (pg.rank + 1) * 2654435761;
        const a = new Float32Array(len).map(() => {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          return ((x / 2 ** 32 - 0.5) * 10 ** ((x >>> 8) % 7)) as number;
        });
        await pg.allReduce(a);
        return Array.from(new Uint32Array(a.buffer));
      },
      [String(len)],
    );
    const bits = values(outs);
    for (const b of bits) assert.deepEqual(b, bits[0]);
    assert.equal(bits[0]!.length, len);
    if (n === 3) {
      // Small buffers are summed in rank order ((x0 + x1) + x2) in float32 on every rank.
      const inputs = [0, 1, 2].map((rank) => {
        let x = (rank + 1) * 2654435761;
        return new Float32Array(len).map(() => {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          return (x / 2 ** 32 - 0.5) * 10 ** ((x >>> 8) % 7);
        });
      });
      const want = new Float32Array(len).map((_, i) => Math.fround(Math.fround(inputs[0]![i]! + inputs[1]![i]!) + inputs[2]![i]!));
      assert.deepEqual(bits[0], Array.from(new Uint32Array(want.buffer)));
      // Negative control: another order gives different bits somewhere, so the check above has teeth.
      const other = new Float32Array(len).map((_, i) => Math.fround(Math.fround(inputs[2]![i]! + inputs[1]![i]!) + inputs[0]![i]!));
      assert.notDeepEqual(bits[0], Array.from(new Uint32Array(other.buffer)));
    }
  }
});

test('threads: subgroups — members get a group in the given order, non-members get null, groups run side by side', async () => {
  const outs = await spawnThreads(5, async (pg) => {
    const g = await pg.newGroup([4, 1, 3]);
    const h = pg.newGroupSync([0, 2]);
    const res: Record<string, unknown> = { inG: g !== null, inH: h !== null };
    if (g) {
      const a = new Float64Array(9).fill(pg.rank);
      await g.allReduce(a);
      res.g = [g.rank, g.size, [...g.worldRanks], a[8]];
      const parts = g.allGatherSync(new Float32Array([pg.rank]));
      res.gGather = parts.map((p) => p[0]);
      const b = new Float32Array(3).fill(g.rank === 2 ? 42 : 0);
      g.broadcastSync(b, 2);
      res.gB = b[0];
      const sub = await g.newGroup([1]);
      res.sub = sub === null ? null : [sub.rank, sub.size];
    }
    if (h) {
      const a = new Float32Array(200_000).fill(pg.rank + 1);
      h.allReduceSync(a, 'sum');
      res.h = [h.rank, a[199_999]];
    }
    const w = new Float32Array(4).fill(1);
    pg.allReduceSync(w);
    res.w = w[0];
    return res;
  });
  const v = values(outs) as Record<string, unknown>[];
  assert.deepEqual(
    v.map((x) => [x.inG, x.inH]),
    [
      [false, true],
      [true, false],
      [false, true],
      [true, false],
      [true, false],
    ],
  );
  assert.deepEqual(v[4]!.g, [0, 3, [4, 1, 3], 8]);
  assert.deepEqual(v[1]!.g, [1, 3, [4, 1, 3], 8]);
  assert.deepEqual(v[3]!.g, [2, 3, [4, 1, 3], 8]);
  assert.deepEqual(v[1]!.gGather, [4, 1, 3]);
  assert.equal(v[4]!.gB, 42);
  assert.deepEqual(v[1]!.sub, [0, 1]);
  assert.equal(v[4]!.sub, null);
  assert.deepEqual(v[0]!.h, [0, 4]);
  assert.deepEqual(v[2]!.h, [1, 4]);
  for (const x of v) assert.equal(x.w, 5);
});

test('threads: overlapped all-reduces (allReduceStart) complete in order with compute in between', async () => {
  const outs = await spawnThreads(3, async (pg) => {
    const bufs = [10, 70_000, 5, 300_000].map((len) => new Float32Array(len).fill(pg.rank + 1));
    const pending = bufs.map((b) => pg.allReduceStart(b));
    let acc = 0;
    for (let i = 0; i < 1e5; i++) acc += Math.sqrt(i); // "backward" keeps computing
    pending[1]!.waitSync();
    await pending[3]!.done;
    pending[0]!.waitSync();
    await pending[2]!.done;
    return [bufs.map((b) => [b[0], b[b.length - 1]]), acc > 0];
  });
  for (const v of values(outs)) assert.deepEqual(v, [[[6, 6], [6, 6], [6, 6], [6, 6]], true]);
});
