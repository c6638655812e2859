// The transport's optional capabilities: every collective runs, exactly, on a transport without them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { createThreadsWorld } from '../../src/comm/threads.js';
import { createHeapMemory } from '../../src/kernels/wasm/instance.js';
import type { TransportRankData, TransportRankResult } from './transport-rank.js';

const RANK = new URL('./transport-rank.js', import.meta.url);
/** float32 elements of the pseudo-random all-reduce: above 1 MiB, where the shared-heaps path starts. */
const RANDOM_LEN = 270_001;

/** Run `n` thread ranks that build their transports themselves; every rank's result, in rank order. */
async function runRanks(n: number, share: boolean, lens: number[]): Promise<TransportRankResult[]> {
  const world = createThreadsWorld(n);
  const heaps = Array.from({ length: n }, () => createHeapMemory());
  const one = (rank: number): Promise<TransportRankResult> =>
    new Promise((resolve, reject) => {
      const transportRank: TransportRankData = { world, rank, heaps, share, lens, randomLen: RANDOM_LEN };
      const w = new Worker(RANK, { workerData: { transportRank, syncbnHeap: heaps[rank] } });
      let got: TransportRankResult | null = null;
      w.once('message', (m: TransportRankResult) => (got = m));
      w.once('error', reject);
      w.once('exit', (code) => {
        if (got !== null) resolve(got);
        else reject(new Error(`rank ${rank} exited with code ${code} and no result`));
      });
    });
  return Promise.all(heaps.map((_, rank) => one(rank)));
}

/** Every rank's pseudo-random buffer (made as in transport-rank.ts) summed in float32 in rank order. */
function rankOrderBits(n: number): number[] {
  const xs = [...Array(n).keys()].map((rank) => {
    let x = (rank + 1) * 2654435761;
    return new Float32Array(RANDOM_LEN).map(() => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return (x / 2 ** 32 - 0.5) * 10 ** ((x >>> 8) % 7);
    });
  });
  const sum = new Float32Array(RANDOM_LEN);
  for (let i = 0; i < RANDOM_LEN; i++) {
    let acc = xs[0]![i]!;
    for (let k = 1; k < n; k++) acc = Math.fround(acc + xs[k]![i]!);
    sum[i] = acc;
  }
  return Array.from(new Uint32Array(sum.buffer));
}

for (const n of [2, 3, 4]) {
  const name =
    `transport without capabilities (threads: no shared heaps, no zero-copy), n=${n}: every collective exact, ` +
    'large heap buffers over the ring, a subgroup, the same bits on every rank; with the capability: rank order';
  test(name, async () => {
    const lens = [0, 1, 7, 129, 16_411, 37 * n + 1, 2 ** 18 + 3];
    const bare = await runRanks(n, false, lens);
    for (const r of bare) {
      assert.deepEqual([r.zeroCopy, r.sharedHeaps], [false, false], 'the bare transport has no capability');
      assert.deepEqual(r.bad, []);
      assert.deepEqual(r.bits, bare[0]!.bits, 'every rank has the same bits');
    }
    // Control: the same ranks given the peers' heaps have the capability and the same exact values.
    const shared = await runRanks(n, true, lens);
    for (const r of shared) {
      assert.deepEqual([r.zeroCopy, r.sharedHeaps], [false, true], 'given the heaps: the shared-heaps capability');
      assert.deepEqual(r.bad, []);
      assert.deepEqual(r.bits, shared[0]!.bits);
    }
    // The shared-heaps path sums each segment in rank order; the ring along the ring, which gives
    // other bits for n ≥ 3: so the capability was used when present and only then.
    const order = rankOrderBits(n);
    assert.deepEqual(shared[0]!.bits, order, 'with the capability: rank order');
    if (n >= 3) assert.notDeepEqual(bare[0]!.bits, order, 'without it: the ring');
    else assert.deepEqual(bare[0]!.bits, order, 'two ranks: b0 + b1 either way (IEEE addition commutes)');
  });
}
