// Example: data-parallel training of a small CNN with SyncBatchNorm. Run: syncbn run -n 4 dist/examples/train-syncbn.js
import { parseArgs } from 'node:util';
import {
  initProcessGroup, Tensor, Generator, Sequential, Conv2d, BatchNorm2d, ReLU, AdaptiveAvgPool2d, Flatten, Linear,
  crossEntropy, SGD, convertSyncBatchNorm, DistributedDataParallel, DistributedSampler, Rng,
} from '../src/index.js';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { steps: { type: 'string', default: '20' }, batch: { type: 'string', default: '8' }, seed: { type: 'string', default: '0' } },
});
const steps = Number(values.steps);
const batch = Number(values.batch); // images per worker per step
const seed = Number(values.seed);

// A synthetic 10-class task: class k is a 3×32×32 grating of frequency 1 + k/2 in channel k % 3, plus noise.
function sample(i: number): { x: Float32Array; y: number } {
  const rng = new Rng(seed * 7919 + i);
  const y = rng.int(10);
  const x = new Float32Array(3 * 32 * 32);
  const phase = rng.float() * Math.PI * 2;
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < 32 * 32; p++) {
      const signal = c === y % 3 ? Math.sin(((1 + y / 2) * 2 * Math.PI * (p % 32)) / 32 + phase) : 0;
      x[c * 1024 + p] = signal + 0.5 * rng.normal();
    }
  }
  return { x, y };
}

const pg = await initProcessGroup();
// The same seed on every rank (DDP also broadcasts rank 0's weights when wrapping).
const generator = new Generator(seed);
const model = convertSyncBatchNorm(
  new Sequential(
    new Conv2d(3, 16, 3, { padding: 1, generator }), new BatchNorm2d(16), new ReLU(),
    new Conv2d(16, 16, 3, { padding: 1, generator }), new BatchNorm2d(16), new ReLU(),
    new AdaptiveAvgPool2d(1), new Flatten(), new Linear(16, 10, { generator }),
  ),
  pg,
);
const ddp = new DistributedDataParallel(model, { group: pg });
const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
const sampler = new DistributedSampler(100_000, { group: pg, seed });
const mine = sampler.indices();
if (pg.rank === 0) console.log(`training on ${pg.size} rank(s), ${batch} images per rank per step (global batch ${batch * pg.size})`);

for (let step = 0; step < steps; step++) {
  const ids = mine.slice(step * batch, (step + 1) * batch);
  const data = ids.map(sample);
  const x = Tensor.from(new Float32Array(data.flatMap((d) => Array.from(d.x))), [ids.length, 3, 32, 32]);
  const out = ddp.forward(x);
  // Mean over the global batch: every rank's share is Σ local losses / (global batch); DDP averages, so scale by world size.
  const loss = crossEntropy(out, data.map((d) => d.y), { reduction: 'sum' }).mul(1 / batch);
  const global = Float64Array.of(loss.item() / pg.size);
  loss.backward();
  opt.step();
  opt.zeroGrad();
  x.dispose();
  pg.allReduceSync(global, 'sum', { tag: 'example.loss' });
  if (pg.rank === 0) console.log(`step ${String(step + 1).padStart(3)}  loss ${global[0]!.toFixed(4)}`);
}
await pg.close();
