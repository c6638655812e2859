// SyncBatchNorm checkFinite over 3 thread ranks: a NaN on one rank makes every rank throw the same ValueError, decided
// from the gathered statistics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnThreads, type ProcessGroup } from '../../src/comm/index.js';

const LIB = new URL('../../src/index.js', import.meta.url).href;

/**
 * Rank body: one training forward of a SyncBN layer; rank 1 (or none) has a NaN. Returns the error or the running mean.
 */
const body = async (pg: ProcessGroup, args: string[]): Promise<{ name: string; message: string } | number[]> => {
  const lib = (await import(args[0]!)) as typeof import('../../src/index.js');
  const check = args[1] === 'on';
  const bn = new lib.SyncBatchNorm(2, { group: pg, name: 'stem.bn', checkFinite: check, timeoutMs: 20_000 });
  const v = Array.from({ length: 8 }, (_, i) => i + pg.rank);
  if (pg.rank === 1) v[5] = NaN;
  const n = pg.rank === 2 ? 0 : 4; // rank 2 contributes no samples: an empty shard is not "non-finite"
  try {
    bn.forward(lib.Tensor.from(v.slice(0, 2 * n), [n, 2]));
    return Array.from(bn.runningMean!.data);
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
};

test(
  'checkFinite on: every rank throws the same ValueError naming rank 1; off: every rank silently gets NaN ' +
    'statistics',
  async () => {
    const on = await spawnThreads(3, body, [LIB, 'on'], { deadlineMs: 60_000 });
    const message =
      "SyncBatchNorm 'stem.bn': input must be finite (checkFinite is on), non-finite batch statistics from rank 1 " +
      '(channel 1: mean NaN)';
    for (const o of on) {
      assert.ok(o.ok, o.ok ? '' : o.error.message);
      assert.deepEqual(o.value, { name: 'ValueError', message });
    }
    const off = await spawnThreads(3, body, [LIB, 'off'], { deadlineMs: 60_000 });
    for (const o of off) {
      assert.ok(o.ok && Array.isArray(o.value));
      assert.ok(Number.isNaN(o.value[1]!), 'the NaN of rank 1 reached every rank');
    }
  },
);
