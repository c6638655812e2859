// Rank bodies of the `syncbn` bench section (loaded inside each thread rank): one BN layer, and the tiny-CNN DDP training step.
import type { ProcessGroup } from '../src/comm/types.js';
import {
  Tensor, Sequential, Conv2d, BatchNorm2d, ReLU, AdaptiveAvgPool2d, Flatten, Linear, SGD, crossEntropy, Generator,
  SyncBatchNorm, convertSyncBatchNorm, DistributedDataParallel,
} from '../src/index.js';
import { median, timeIt } from './util.js';

/** Per-round medians of each configuration, measured interleaved (round 1: A, B, C; round 2: A, B, C; …). */
export type Rounds = Record<string, number[]>;

/**
 * Forward + backward of one BatchNorm layer (16 channels, 8×16×32×32 per rank), SyncBN and local,
 * alternating in `rounds` rounds inside the same ranks; µs per call, the median of each round.
 */
export function layerFwdBwd(pg: ProcessGroup, rounds: number): Rounds {
  const g = new Generator(pg.rank + 1);
  const x = Tensor.randn([8, 16, 32, 32], { generator: g }).requiresGrad_(true);
  const dy = Tensor.randn([8, 16, 32, 32], { generator: g });
  const layers = { sync: new SyncBatchNorm(16, { group: pg, name: 'bench.bn' }), local: new SyncBatchNorm(16, { group: null, name: 'bench.bn' }) };
  const out: Rounds = { sync: [], local: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, bn] of Object.entries(layers)) {
      const once = (): void => {
        const y = bn.forward(x);
        y.backward(dy);
        // Free what each call allocates (as x.grad): left to the GC, the heap's reclamation lands at
        // random times on each rank, and a synced layer then waits out both ranks' pauses.
        y.dispose();
        x.grad?.dispose();
        x.grad = null;
        bn.zeroGrad();
      };
      pg.barrierSync();
      out[name]!.push(median(timeIt(once, { warmup: 10, samples: 40, inner: 5, maxSeconds: 4 })) * 1e6);
    }
  }
  return out;
}

function tinyCnn(): Sequential {
  const generator = new Generator(0);
  return new Sequential(
    new Conv2d(3, 16, 3, { padding: 1, generator }), new BatchNorm2d(16), new ReLU(),
    new Conv2d(16, 16, 3, { padding: 1, generator }), new BatchNorm2d(16), new ReLU(),
    new AdaptiveAvgPool2d(1), new Flatten(), new Linear(16, 10, { generator }),
  );
}

/** One DDP training step closure of the tiny CNN (batch 8 of 3×32×32 per rank) over `group`. */
function tinyCnnTrainer(group: ProcessGroup, sync: boolean, rank: number): { step: () => void; close: () => void } {
  const model = tinyCnn();
  if (sync) convertSyncBatchNorm(model, group);
  const ddp = new DistributedDataParallel(model, { group });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = Tensor.randn([8, 3, 32, 32], { generator: new Generator(rank + 7) });
  const y = Int32Array.from({ length: 8 }, (_, i) => (i * 3 + rank) % 10);
  const step = (): void => {
    opt.zeroGrad();
    crossEntropy(ddp.forward(x), y).backward();
    opt.step();
  };
  return { step, close: () => ddp.close() };
}

/**
 * The tiny-CNN DDP step, ms, in three configurations measured in alternation inside the same two
 * ranks (so each sees the same JIT state and the same machine load): `syncbn` (2 workers, SyncBN),
 * `localbn` (2 workers, per-worker BN) and `one` (rank 0 alone, in a group of one, while rank 1 waits).
 */
export function tinyCnnSteps(pg: ProcessGroup, rounds: number): Rounds {
  const solo = pg.newGroupSync([0]);
  const cfgs: [string, { step: () => void; close: () => void } | null][] = [
    ['syncbn', tinyCnnTrainer(pg, true, pg.rank)],
    ['localbn', tinyCnnTrainer(pg, false, pg.rank)],
    ['one', solo === null ? null : tinyCnnTrainer(solo, true, 0)],
  ];
  const out: Rounds = { syncbn: [], localbn: [], one: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, tr] of cfgs) {
      pg.barrierSync();
      // In `one`, rank 1 has no trainer: it waits at the next barrier (asleep after a short spin).
      if (tr !== null) out[name]!.push(median(timeIt(tr.step, { warmup: 5, samples: 30, maxSeconds: 5 })) * 1e3);
    }
  }
  pg.barrierSync();
  for (const [, tr] of cfgs) tr?.close();
  return out;
}
