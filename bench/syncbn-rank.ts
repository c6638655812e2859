// Rank bodies of the `syncbn` bench section (loaded inside each thread rank): one BN layer, and the tiny-CNN DDP training step.
import type { ProcessGroup } from '../src/comm/types.js';
import {
  Tensor, Sequential, Conv2d, BatchNorm2d, ReLU, AdaptiveAvgPool2d, Flatten, Linear, SGD, crossEntropy, Generator,
  SyncBatchNorm, convertSyncBatchNorm, DistributedDataParallel,
} from '../src/index.js';
import { median, timeIt } from './util.js';

/** Median µs of forward + backward of one BatchNorm layer (16 channels, 8×16×32×32 per rank), SyncBN or local. */
export function layerFwdBwd(pg: ProcessGroup, sync: boolean): number {
  const g = new Generator(pg.rank + 1);
  const x = Tensor.randn([8, 16, 32, 32], { generator: g }).requiresGrad_(true);
  const dy = Tensor.randn([8, 16, 32, 32], { generator: g });
  const bn = new SyncBatchNorm(16, { group: sync ? pg : null, name: 'bench.bn' });
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
  const t = timeIt(once, { warmup: 10, samples: 60, inner: 5, maxSeconds: 8 });
  return median(t) * 1e6;
}

/** Median ms of one DDP training step of the tiny CNN (batch 8 of 3×32×32 per rank), SyncBN or local BN. */
export function tinyCnnStep(pg: ProcessGroup, sync: boolean): number {
  const generator = new Generator(0);
  const model = new Sequential(
    new Conv2d(3, 16, 3, { padding: 1, generator }), new BatchNorm2d(16), new ReLU(),
    new Conv2d(16, 16, 3, { padding: 1, generator }), new BatchNorm2d(16), new ReLU(),
    new AdaptiveAvgPool2d(1), new Flatten(), new Linear(16, 10, { generator }),
  );
  if (sync) convertSyncBatchNorm(model, pg);
  const ddp = new DistributedDataParallel(model, { group: pg });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = Tensor.randn([8, 3, 32, 32], { generator: new Generator(pg.rank + 7) });
  const y = Int32Array.from({ length: 8 }, (_, i) => (i * 3 + pg.rank) % 10);
  const step = (): void => {
    opt.zeroGrad();
    crossEntropy(ddp.forward(x), y).backward();
    opt.step();
  };
  pg.barrierSync();
  const t = timeIt(step, { warmup: 5, samples: 40, maxSeconds: 10 });
  ddp.close();
  return median(t) * 1e3;
}
