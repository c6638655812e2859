// Rank bodies of the `syncbn` bench section (loaded inside each thread rank): one BN layer, and the tiny-CNN DDP
// training step.
import type { ProcessGroup } from '../src/comm/types.js';
import {
  Tensor,
  Sequential,
  Conv2d,
  BatchNorm2d,
  ReLU,
  AdaptiveAvgPool2d,
  Flatten,
  Linear,
  SGD,
  crossEntropy,
  RandomGenerator,
  SyncBatchNorm,
  convertSyncBatchNorm,
  DistributedDataParallel,
} from '../src/index.js';

/** Per-call times of each configuration, ms, gathered from interleaved blocks (A, B, C, A, B, C, …). */
export type Rounds = Record<string, number[]>;

/**
 * Time `fns` interleaved in short blocks: `blocks` times, each configuration runs `per + 1` calls
 * and the last `per` are timed (the first re-warms caches after the other configurations ran).
 * Interleaving at this grain means a change in machine speed (this VM's host) hits every
 * configuration alike, so their ratios stay meaningful where sequential runs of each did not.
 * A configuration given as null on this rank only joins the barriers.
 */
function interleaved(pg: ProcessGroup, fns: Record<string, (() => void) | null>, blocks: number, per: number): Rounds {
  const out: Rounds = {};
  for (const name of Object.keys(fns)) out[name] = [];
  for (let b = 0; b < blocks; b++) {
    for (const [name, fn] of Object.entries(fns)) {
      pg.barrierSync();
      if (fn === null) continue;
      fn();
      for (let i = 0; i < per; i++) {
        const t = performance.now();
        fn();
        out[name]!.push(performance.now() - t);
      }
    }
  }
  pg.barrierSync();
  return out;
}

/**
 * Forward + backward of one BatchNorm layer (16 channels, 8×16×32×32 per rank), SyncBN and local,
 * interleaved in short blocks inside the same ranks; ms per call.
 */
export function layerFwdBwd(pg: ProcessGroup, blocks: number): Rounds {
  const g = new RandomGenerator(pg.rank + 1);
  const x = Tensor.randn([8, 16, 32, 32], { generator: g }).requiresGrad_(true);
  const dy = Tensor.randn([8, 16, 32, 32], { generator: g });
  const call = (bn: SyncBatchNorm) => (): void => {
    const y = bn.forward(x);
    y.backward(dy);
    // Free what each call allocates (as x.grad): left to the GC, the heap's reclamation lands at
    // random times on each rank, and a synced layer then waits out both ranks' pauses.
    y.dispose();
    x.grad?.dispose();
    x.grad = null;
    bn.zeroGrad();
  };
  const sync = call(new SyncBatchNorm(16, { group: pg, name: 'bench.bn' }));
  const local = call(new SyncBatchNorm(16, { group: null, name: 'bench.bn' }));
  for (let i = 0; i < 20; i++) {
    sync();
    local();
  }
  return interleaved(pg, { sync, local }, blocks, 10);
}

function tinyCnn(): Sequential {
  const generator = new RandomGenerator(0);
  return new Sequential(
    new Conv2d(3, 16, 3, { padding: 1, generator }),
    new BatchNorm2d(16),
    new ReLU(),
    new Conv2d(16, 16, 3, { padding: 1, generator }),
    new BatchNorm2d(16),
    new ReLU(),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(16, 10, { generator }),
  );
}

/**
 * One training step closure of the tiny CNN (batch 8 of 3×32×32 per rank): DDP over `group` (with
 * SyncBN when `sync`), or, with no group, a plain single-worker model that never communicates.
 */
function tinyCnnTrainer(
  group: ProcessGroup | null,
  sync: boolean,
  rank: number,
): { step: () => void; close: () => void } {
  const model = tinyCnn();
  if (sync && group !== null) convertSyncBatchNorm(model, group);
  const ddp = group === null ? null : new DistributedDataParallel(model, { group });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = Tensor.randn([8, 3, 32, 32], { generator: new RandomGenerator(rank + 7) });
  const y = Int32Array.from({ length: 8 }, (_, i) => (i * 3 + rank) % 10);
  const step = (): void => {
    opt.zeroGrad();
    crossEntropy((ddp ?? model).forward(x), y).backward();
    opt.step();
  };
  return { step, close: () => ddp?.close() };
}

/**
 * The tiny-CNN step, ms, in four configurations interleaved in short blocks inside the same two
 * ranks (same JIT state, same machine load): `syncbn` (2 workers, DDP + SyncBN), `localbn` (2
 * workers, DDP, per-worker BN), `independent` (2 workers each training its own model, no
 * communication at all: what this machine gives two concurrent workers, the ceiling for the other
 * two) and `one` (rank 0 alone, SyncBN in a group of one, while rank 1 waits at the barrier).
 */
export function tinyCnnSteps(pg: ProcessGroup, blocks: number): Rounds {
  const solo = pg.newGroupSync([0]);
  const sync = tinyCnnTrainer(pg, true, pg.rank);
  const local = tinyCnnTrainer(pg, false, pg.rank);
  const alone = tinyCnnTrainer(null, false, pg.rank);
  const one = solo === null ? null : tinyCnnTrainer(solo, true, 0);
  for (let i = 0; i < 5; i++) {
    sync.step();
    local.step();
    alone.step();
    one?.step();
  }
  const out = interleaved(
    pg,
    { syncbn: sync.step, localbn: local.step, independent: alone.step, one: one?.step ?? null },
    blocks,
    3,
  );
  for (const tr of [sync, local, alone, one]) tr?.close();
  return out;
}
