// A rank thread for transport.test.ts: builds its threads transport itself, with or without shared heaps.
import { parentPort, workerData } from 'node:worker_threads';
import { Group, RankState } from '../../src/comm/group.js';
import { WORLD_GROUP_ID } from '../../src/comm/ops.js';
import { ThreadsTransport, type ThreadsWorld } from '../../src/comm/threads.js';
import type { ProcessGroup } from '../../src/comm/types.js';
import { allocF32, allocF64 } from '../../src/kernels/wasm/heap.js';
import { invariants } from './helpers.js';

/** What transport.test.ts gives each rank (absent when the test runner imports this file on its own). */
export interface TransportRankData {
  world: ThreadsWorld;
  rank: number;
  /** Every rank's wasm heap (this rank's is picked up as `syncbnHeap`). */
  heaps: WebAssembly.Memory[];
  /** Give the transport the peers' heaps (the shared-heaps capability). */
  share: boolean;
  lens: number[];
  /** Length of the pseudo-random float32 all-reduce (≥ 1 MiB: the shared-heaps path when available). */
  randomLen: number;
}

export interface TransportRankResult {
  zeroCopy: boolean;
  sharedHeaps: boolean;
  bad: string[];
  /** Bits of a large pseudo-random float32 all-reduce of heap buffers. */
  bits: number[];
}

/** Large heap-resident all-reduces (the shared-heaps path when the transport has it, else the ring): exact values. */
function largeHeap(pg: ProcessGroup, bad: string[]): void {
  const n = pg.size;
  const r = pg.rank;
  for (const len of [262_145, 300_007]) {
    for (const alloc of [allocF32, allocF64]) {
      const s = alloc(len);
      for (let i = 0; i < len; i++) s[i] = r + (i % 5);
      pg.allReduceSync(s);
      const want = (n * (n - 1)) / 2;
      for (let i = 0; i < len; i++) {
        if (s[i] !== want + n * (i % 5)) {
          bad.push(`heap sum ${s.constructor.name} ${len} [${i}] = ${s[i]}`);
          break;
        }
      }
      const mx = alloc(len);
      for (let i = 0; i < len; i++) mx[i] = i % n === r ? 100 + r : r;
      pg.allReduceSync(mx, 'max');
      for (let i = 0; i < len; i++) {
        if (mx[i] !== 100 + (i % n)) {
          bad.push(`heap max ${mx.constructor.name} ${len} [${i}] = ${mx[i]}`);
          break;
        }
      }
    }
  }
}

async function main(d: TransportRankData): Promise<TransportRankResult> {
  const t = new ThreadsTransport(d.world, d.rank, d.share ? d.heaps : undefined);
  const ranks = Array.from({ length: d.world.size }, (_, i) => i);
  const pg = new Group(new RankState(t), ranks, WORLD_GROUP_ID, 60_000);
  const bad = await invariants(pg, [JSON.stringify(d.lens)]);
  largeHeap(pg, bad);
  // A subgroup of the odd ranks, reversed: its group ranks map to other threads' heaps.
  const odd = ranks.filter((q) => q % 2 === 1).reverse();
  const g = await pg.newGroup(odd);
  if (g !== null) largeHeap(g, bad);
  let x = (d.rank + 1) * 2654435761;
  const v = allocF32(d.randomLen);
  for (let i = 0; i < v.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    v[i] = (x / 2 ** 32 - 0.5) * 10 ** ((x >>> 8) % 7);
  }
  await pg.allReduce(v);
  pg.barrierSync();
  const bits = Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));
  await pg.close();
  return { zeroCopy: t.zeroCopy !== null, sharedHeaps: t.sharedHeaps !== null, bad: bad.slice(0, 5), bits };
}

const data = (workerData as { transportRank?: TransportRankData } | null)?.transportRank;
if (data !== undefined && parentPort !== null) parentPort.postMessage(await main(data));
