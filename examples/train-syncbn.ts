// Example: DDP + SyncBatchNorm training of a small CNN, with checkpoints and (elastic) resume.
// Run: syncbn run -n 4 dist/examples/train-syncbn.js
import { parseArgs } from 'node:util';
import {
  initProcessGroup,
  Tensor,
  RandomGenerator,
  Sequential,
  Conv2d,
  BatchNorm2d,
  ReLU,
  AdaptiveAvgPool2d,
  Flatten,
  Linear,
  crossEntropy,
  SGD,
  convertSyncBatchNorm,
  DistributedDataParallel,
  DistributedSampler,
  UsageError,
  saveModule,
  saveCheckpoint,
  loadLatestCheckpoint,
  captureTrainingState,
  restoreTrainingState,
  type TrainingParts,
} from '../src/index.js';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    steps: { type: 'string', default: '20' },
    batch: { type: 'string', default: '8' },
    'global-batch': { type: 'string' },
    seed: { type: 'string', default: '0' },
    'checkpoint-dir': { type: 'string' },
    'checkpoint-every': { type: 'string' },
    'checkpoint-keep': { type: 'string', default: '3' },
    save: { type: 'string' },
  },
});
function int(flag: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`train-syncbn: --${flag} must be an integer ≥ ${min}, received ${JSON.stringify(v)}`);
  }
  return n;
}
const steps = int('steps', values.steps, 0);
// images per rank per step at the first start (global batch = batch × world size, kept on resume)
const batch = int('batch', values.batch, 1);
const seed = int('seed', values.seed, 0);
const ckptDir = values['checkpoint-dir'];
const every = values['checkpoint-every'] === undefined ? 0 : int('checkpoint-every', values['checkpoint-every'], 1);
const keep = int('checkpoint-keep', values['checkpoint-keep'], 1);
if (every > 0 && ckptDir === undefined) throw new UsageError('train-syncbn: --checkpoint-every needs --checkpoint-dir');

// A synthetic 10-class task: class k is a 3×32×32 grating of frequency 1 + k/2 in channel k % 3, plus noise.
function sample(i: number): { x: Float32Array; y: number } {
  const rng = new RandomGenerator(seed * 7919 + i);
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
const world = pg.size;
// The same seed on every rank (DDP also broadcasts rank 0's weights when wrapping).
const generator = new RandomGenerator(seed);
const model = convertSyncBatchNorm(
  new Sequential(
    new Conv2d(3, 16, 3, { padding: 1, generator }),
    new BatchNorm2d(16),
    new ReLU(),
    new Conv2d(16, 16, 3, { padding: 1, generator }),
    new BatchNorm2d(16),
    new ReLU(),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(16, 10, { generator }),
  ),
  pg,
);
const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
// One seeded permutation of the dataset per epoch, shared by every rank (a sampler with one replica);
// each step takes the next G indices of it, and rank r the slice [⌊rG/W⌋, ⌊(r+1)G/W⌋) of those.
const DATASET = 100_000;
const sampler = new DistributedSampler(DATASET, { numReplicas: 1, rank: 0, seed });
const parts: TrainingParts = { model, optimizer: opt, sampler, generators: { init: generator } };

let start = 0;
let G = values['global-batch'] === undefined ? batch * world : int('global-batch', values['global-batch'], 1);
const ck = ckptDir === undefined ? null : loadLatestCheckpoint(ckptDir);
if (ck !== null) {
  // Every rank reads the same files; the global batch is the checkpoint's (elastic resume keeps it).
  const expectG = values['global-batch'] === undefined ? {} : { globalBatch: G };
  const at = restoreTrainingState(ck, parts, expectG);
  ck.dispose();
  start = at.step;
  G = at.globalBatch ?? G;
  if (pg.rank === 0)
    console.error(
      `resuming at step ${at.step} from ${ck.manifestPath} (taken at world size ` +
        `${at.worldSize}, global batch ${G})`,
    );
}
const ddp = new DistributedDataParallel(model, { group: pg });
const lo = Math.floor((pg.rank * G) / world);
const hi = Math.floor(((pg.rank + 1) * G) / world);
if (pg.rank === 0) {
  const per = G % world === 0 ? `${G / world}` : `${Math.floor(G / world)}–${Math.ceil(G / world)}`;
  console.log(`training on ${world} rank(s), ${per} images per rank per step (global batch ${G})`);
}

let order: number[] = [];
let orderEpoch = -1;
/** Dataset indices of global positions [from, to) of the endless stream epoch 0, epoch 1, … */
function globalIndices(from: number, to: number): number[] {
  const out: number[] = [];
  for (let j = from; j < to; j++) {
    const e = Math.floor(j / DATASET);
    if (e !== orderEpoch) {
      sampler.setEpoch(e);
      order = sampler.indices();
      orderEpoch = e;
    }
    out.push(order[j % DATASET]!);
  }
  return out;
}

for (let step = start; step < steps; step++) {
  const ids = globalIndices(step * G + lo, step * G + hi); // this rank's share; may be empty
  const data = ids.map(sample);
  const x = Tensor.from(new Float32Array(data.flatMap((d) => Array.from(d.x))), [ids.length, 3, 32, 32]);
  const out = ddp.forward(x);
  // Mean over the global batch: this rank's share is Σ local losses / G; DDP averages over W ranks, so scale by W.
  const loss = crossEntropy(
    out,
    data.map((d) => d.y),
    { reduction: 'sum' },
  ).mul(world / G);
  const global = Float64Array.of(loss.item() / world);
  loss.backward();
  opt.step();
  opt.zeroGrad();
  x.dispose();
  pg.allReduceSync(global, 'sum', { tag: 'example.loss' });
  if (pg.rank === 0) console.log(`step ${String(step + 1).padStart(3)}  loss ${global[0]!.toFixed(4)}`);
  if (every > 0 && (step + 1) % every === 0) {
    const seen = (step + 1) * G;
    sampler.setEpoch(Math.floor(seen / DATASET));
    const state = captureTrainingState(parts, {
      step: step + 1,
      worldSize: world,
      globalBatch: G,
      epoch: Math.floor(seen / DATASET),
      position: seen % DATASET,
    });
    try {
      await saveCheckpoint(ckptDir!, state, { group: pg, keep });
    } finally {
      state.dispose();
    }
  }
}
if (values.save !== undefined && pg.rank === 0) saveModule(values.save, model);
await pg.close();
